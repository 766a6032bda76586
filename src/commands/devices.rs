//! `mxcall devices`: the audio devices cpal sees, by the names `device:NAME` takes.

use serde_json::json;

use super::Context;
use crate::error::{Error, Result, exit};

pub fn run(ctx: &Context) -> Result<u8> {
    let devices = crate::audio::list_devices().map_err(|e| Error::Media(e.to_string()))?;
    if ctx.out.json {
        ctx.out.result("", &json!({ "devices": devices }));
        return Ok(exit::OK);
    }
    let mut lines = Vec::new();
    for d in &devices {
        let mut roles = Vec::new();
        if d.input {
            roles.push(if d.default_input {
                "input (default)"
            } else {
                "input"
            });
        }
        if d.output {
            roles.push(if d.default_output {
                "output (default)"
            } else {
                "output"
            });
        }
        lines.push(format!(
            "device:{}  [{}]  {}",
            d.name,
            roles.join(", "),
            d.description
        ));
    }
    if lines.is_empty() {
        lines.push("no audio devices found".into());
    }
    ctx.out.result(&lines.join("\n"), &json!(null));
    Ok(exit::OK)
}
