// Starts Swagger UI on the document the page names. A file rather than an inline script:
// the page's Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";
  var root = document.getElementById("reference");
  if (!root || typeof SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = SwaggerUIBundle({
    url: root.dataset.document,
    domNode: root,
    deepLinking: true,
    // Swagger UI would otherwise send every document to validator.swagger.io.
    validatorUrl: null,
    persistAuthorization: false,
    displayRequestDuration: true,
  });
})();
