//! What every route shares: errors as `{"error": "…"}` with a 4xx status, the image of a
//! request (its body, or the file of a multipart upload), and the run it names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::serve::models::Served;
use crate::serve::shared::Shared;

/// A request that cannot be answered: its status and one line saying why.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// Makes every error answer `{"error": "…"}`, also those of axum's extractors (a bad query or
/// JSON body), of a method a route does not take, and of the timeout.
pub(crate) async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok());
            format!("this route takes {}", allow.unwrap_or("another method"))
        }
        StatusCode::REQUEST_TIMEOUT => {
            "the request took longer than the server allows (--timeout)".into()
        }
        StatusCode::PAYLOAD_TOO_LARGE => TOO_LARGE.into(),
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_lowercase(),
        _ => text,
    };
    // A JSON body of the wrong structure is a bad request like any other (axum says 422).
    let status = match status {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        other => other,
    };
    let mut answer = ApiError::new(status, message).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        answer.headers_mut().insert(header::ALLOW, allow.clone());
    }
    answer
}

/// The answer to a path that names no route.
pub(crate) async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {} {}: see GET / for the page and the README for the API",
            request.method(),
            request.uri().path()
        ),
    )
}

/// The run named `name`, or 404 naming the runs there are.
pub(crate) fn model(shared: &Shared, name: &str) -> Result<Arc<Served>, ApiError> {
    shared.models.get(name).ok_or_else(|| {
        let names: Vec<_> = shared.models.all().map(|s| s.name.as_str()).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no model named {name:?}: this server has {}",
                names.join(", ")
            ),
        )
    })
}

/// Runs `work` on tokio's blocking threads (decoding and scoring are CPU work).
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request's work failed: {e}"),
        ))
    })
}

/// An encoded image sent by a person: the request's body, or the first file of a
/// `multipart/form-data` upload, with the name it goes by in answers and errors.
pub(crate) struct ImageUpload {
    pub bytes: Bytes,
    /// The uploaded file's name, or `body`.
    pub name: PathBuf,
}

impl<S: Send + Sync> FromRequest<S> for ImageUpload {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let bytes = Bytes::from_request(request, state)
                .await
                .map_err(|e| rejected(e.status(), e.body_text()))?;
            return empty_or(bytes, PathBuf::from("body"));
        }
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(|e| rejected(e.status(), e.body_text()))?;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| rejected(e.status(), e.body_text()))?
        {
            let Some(name) = field.file_name().map(PathBuf::from) else {
                continue;
            };
            let bytes = field
                .bytes()
                .await
                .map_err(|e| rejected(e.status(), e.body_text()))?;
            return empty_or(bytes, name);
        }
        Err(ApiError::bad(
            "the multipart upload holds no file: send the image as a file field (curl -F file=@digit.png)",
        ))
    }
}

fn empty_or(bytes: Bytes, name: PathBuf) -> Result<ImageUpload, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad(format!(
            "{} is empty: send an image file (PNG, JPEG, …) as the body",
            name.display()
        )));
    }
    Ok(ImageUpload { bytes, name })
}

/// What a body over the limit is told, whichever part of the stack finds it.
pub(crate) const TOO_LARGE: &str =
    "the request body is larger than the server's limit (--max-body)";

/// An extractor's rejection as an error, a body over the limit said in one way.
fn rejected(status: StatusCode, text: String) -> ApiError {
    let limit = status == StatusCode::PAYLOAD_TOO_LARGE || text.contains("length limit");
    match limit {
        true => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE),
        false => ApiError::new(status, text),
    }
}

/// An image's decoding error as a status: 415 when the bytes are no image format at all, 400
/// when they are one but cannot be read (damaged, cut short, too large once decoded).
pub(crate) fn undecodable(bytes: &[u8], name: &Path, error: &anyhow::Error) -> ApiError {
    if image::guess_format(bytes).is_err() {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "{}: is not an image (its first bytes are no image format's); expected PNG, JPEG, BMP, WebP, GIF, TIFF, PNM, TGA or QOI",
                name.display()
            ),
        );
    }
    ApiError::bad(format!("{error:#}").replace('\n', " "))
}
