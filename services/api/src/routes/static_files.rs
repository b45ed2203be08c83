//! Files compiled into fleetd and served as they are: the API reference's and the console's.
//! Their pages carry a Content-Security-Policy that lets them load and call nothing but this
//! origin, so what works here works offline and cannot leak a key elsewhere.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::error::ApiError;

/// Scripts, styles and calls from this origin only; inline styles (Swagger UI and Chart.js set
/// them) and data: images allowed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

/// A served file: its name under the assets path, its content type and its bytes.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// An [`Asset`] from a file under `services/api/assets`, compiled in.
macro_rules! asset {
    ($name:literal, $content_type:expr, $path:literal) => {
        $crate::routes::static_files::Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../assets/", $path)),
        }
    };
}
pub(crate) use asset;

pub fn serve(assets: &[Asset], file: &str) -> Result<Response, ApiError> {
    let asset = assets
        .iter()
        .find(|a| a.name == file)
        .ok_or_else(|| ApiError::NotFound(format!("no asset {file:?}")))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            // Compiled in: a new build may change them, so a day, not forever.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        asset.bytes,
    )
        .into_response())
}

/// An HTML page under the policy.
pub fn page(html: impl Into<String>) -> Response {
    let mut response = (StatusCode::OK, Html(html.into())).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

pub const JS: &str = "text/javascript; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";
pub const TEXT: &str = "text/plain; charset=utf-8";
