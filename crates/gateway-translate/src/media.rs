//! Data URLs and media types.

use gateway_protocol::MediaSource;

/// Parses `data:<mime>;base64,<payload>` into a base64 source. Other encodings are
/// refused (`Err` says why).
pub fn parse_data_url(url: &str) -> Result<MediaSource, String> {
    let rest = url
        .strip_prefix("data:")
        .ok_or_else(|| "not a data URL".to_owned())?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| "data URL has no `,` before its payload".to_owned())?;
    let media_type = meta
        .strip_suffix(";base64")
        .ok_or_else(|| "only base64 data URLs are supported".to_owned())?;
    Ok(MediaSource::Base64 {
        media_type: media_type.to_owned(),
        data: data.to_owned(),
    })
}

/// A URL or data URL for a source, as OpenAI's `image_url` wants it.
pub fn to_url(source: &MediaSource) -> String {
    match source {
        MediaSource::Url(u) => u.clone(),
        MediaSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        MediaSource::FileId(id) => id.clone(),
    }
}

/// A source from an OpenAI-style URL string (data URL or plain URL).
pub fn from_url(url: &str) -> MediaSource {
    if url.starts_with("data:") {
        parse_data_url(url).unwrap_or_else(|_| MediaSource::Url(url.to_owned()))
    } else {
        MediaSource::Url(url.to_owned())
    }
}

/// Image types Anthropic accepts.
pub const ANTHROPIC_IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_url_round_trip() {
        let src = parse_data_url("data:image/png;base64,iVBOR").unwrap();
        assert_eq!(
            src,
            MediaSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBOR".into()
            }
        );
        assert_eq!(to_url(&src), "data:image/png;base64,iVBOR");
        assert!(parse_data_url("data:text/plain,hi").is_err());
    }
}
