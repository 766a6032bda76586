//! `mxcall allow`: shows or edits the profile's allowed callers (`callers::AllowList`).

use serde_json::json;

use super::Context;
use crate::callers::{AllowList, parse_user};
use crate::cli::AllowArgs;
use crate::error::{Error, Result, exit};

pub fn run(ctx: &Context, args: AllowArgs) -> Result<u8> {
    let users = args
        .users
        .iter()
        .map(|u| parse_user(u).map_err(Error::Usage))
        .collect::<Result<Vec<_>>>()?;
    let mut list = AllowList::load(&ctx.profile)?;
    if args.remove && users.is_empty() {
        return Err(Error::Usage("--remove needs the users to remove".into()));
    }
    if !users.is_empty() {
        for user in users {
            if args.remove {
                if !list.remove(&user) {
                    ctx.out.note(&format!("{user} was not an allowed caller"));
                }
            } else {
                list.insert(user);
            }
        }
        list.save(&ctx.profile)?;
    }
    let all: Vec<&str> = list.users().map(|u| u.as_str()).collect();
    let human = if all.is_empty() {
        "no allowed callers: answer and watch --answer answer only in rooms already joined, \
         and join no invites"
            .to_owned()
    } else {
        all.join("\n")
    };
    ctx.out.result(&human, &json!({"allowed_callers": all}));
    Ok(exit::OK)
}
