//! Field rules shared by the aggregates.

use crate::DomainError;

pub fn required(field: &'static str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    optional(field, Some(value), max)
}

pub fn optional(field: &'static str, value: Option<&str>, max: usize) -> Result<(), DomainError> {
    match value {
        Some(v) if v.chars().count() > max => Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

pub fn email(field: &'static str, value: &str) -> Result<(), DomainError> {
    required(field, value, 255)?;
    let valid = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(DomainError::invalid(field, "must be an email address"))
    }
}

pub fn country(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.len() == 2 && value.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            "must be an ISO 3166-1 alpha-2 code such as PT",
        ))
    }
}

pub fn one_of(field: &'static str, value: &str, allowed: &[&str]) -> Result<(), DomainError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_countries() {
        assert!(email("email", "ana@example.com").is_ok());
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "ana@example",
            "a na@x.com",
            "ana@x.",
        ] {
            assert!(email("email", bad).is_err(), "{bad:?}");
        }
        assert!(country("country", "PT").is_ok());
        for bad in ["pt", "PRT", "P", ""] {
            assert!(country("country", bad).is_err(), "{bad:?}");
        }
        assert!(optional("name", Some("ééé"), 3).is_ok());
        assert!(optional("name", Some("éééé"), 3).is_err());
    }
}
