//! Which room a call goes to, and whether that room may carry a 1:1 call.
//!
//! A call target is a room id, a room alias, or a user: for a user mxcall uses the existing
//! direct-message room (`m.direct`) or creates one and invites them.

use matrix_sdk::RoomMemberships;
use matrix_sdk::ruma::events::room::join_rules::JoinRule;
use matrix_sdk::ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, UserId};
use matrix_sdk::{Client, Room, RoomState};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Room(OwnedRoomId),
    Alias(OwnedRoomAliasId),
    User(OwnedUserId),
}

impl Target {
    pub fn parse(raw: &str) -> Result<Target> {
        let bad = || {
            Error::Usage(format!(
                "invalid call target '{raw}': expected a room id (!room:server), an alias (#room:server) or a user (@user:server)"
            ))
        };
        match raw.chars().next() {
            Some('!') => OwnedRoomId::try_from(raw)
                .map(Target::Room)
                .map_err(|_| bad()),
            Some('#') => OwnedRoomAliasId::try_from(raw)
                .map(Target::Alias)
                .map_err(|_| bad()),
            Some('@') => OwnedUserId::try_from(raw)
                .map(Target::User)
                .map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// A room fit for a 1:1 call, and the one other member in it.
#[derive(Debug, Clone)]
pub struct CallRoom {
    pub room: Room,
    pub peer: OwnedUserId,
    /// False while the peer is only invited (a freshly created DM): the call must wait for
    /// them to join before it rings, since they cannot see events in a room they are not in.
    pub peer_joined: bool,
}

/// The other member of a two-member room, or an error saying why the room is unfit.
pub async fn peer_of(room: &Room, own: &UserId) -> Result<(OwnedUserId, bool)> {
    if room.state() != RoomState::Joined {
        return Err(Error::Other(format!("not a member of {}", room.room_id())));
    }
    let members = room
        .members(RoomMemberships::JOIN | RoomMemberships::INVITE)
        .await
        .map_err(|e| {
            Error::other(
                "cannot list the room's members",
                crate::error::root_cause(&e),
            )
        })?;
    let others: Vec<_> = members.iter().filter(|m| m.user_id() != own).collect();
    match others.as_slice() {
        [peer] => {
            let joined = matches!(
                peer.membership(),
                matrix_sdk::ruma::events::room::member::MembershipState::Join
            );
            Ok((peer.user_id().to_owned(), joined))
        }
        [] => Err(Error::Usage(format!(
            "{} has no other member to call",
            room.room_id()
        ))),
        many => Err(Error::Usage(format!(
            "{} has {} members: calls need a room with exactly one other member",
            room.room_id(),
            many.len() + 1
        ))),
    }
}

/// Whether an incoming call in `room` may ring: exactly two members and not public.
pub fn may_ring(room: &Room) -> bool {
    let public = matches!(room.join_rule(), Some(JoinRule::Public));
    !public && room.joined_members_count() <= 2
}

/// Finds (or, for a user, creates) the room for an outgoing call.
pub async fn resolve(client: &Client, target: &Target) -> Result<CallRoom> {
    let own = client
        .user_id()
        .ok_or_else(|| Error::Other("the session has no user id".into()))?
        .to_owned();
    let room = match target {
        Target::Room(id) => client
            .get_room(id)
            .ok_or_else(|| Error::Usage(format!("{id}: not a room this account has joined")))?,
        Target::Alias(alias) => {
            let resolved = client.resolve_room_alias(alias).await.map_err(|e| {
                Error::Usage(format!(
                    "cannot resolve {alias}: {}",
                    crate::error::root_cause(&e)
                ))
            })?;
            client.get_room(&resolved.room_id).ok_or_else(|| {
                Error::Usage(format!(
                    "{alias} ({}): not a room this account has joined",
                    resolved.room_id
                ))
            })?
        }
        Target::User(user) => {
            if user == &own {
                return Err(Error::Usage(
                    "cannot call yourself: give another user".into(),
                ));
            }
            return dm_with(client, user, &own).await;
        }
    };
    let (peer, peer_joined) = peer_of(&room, &own).await?;
    Ok(CallRoom {
        room,
        peer,
        peer_joined,
    })
}

async fn dm_with(client: &Client, user: &UserId, own: &UserId) -> Result<CallRoom> {
    for room in client.get_dm_rooms(user) {
        if let Ok((peer, peer_joined)) = peer_of(&room, own).await
            && peer == user
        {
            return Ok(CallRoom {
                room,
                peer,
                peer_joined,
            });
        }
    }
    ensure_user_exists(client, user).await?;
    let before = joined_rooms(client).await;
    let room = match client.create_dm(user).await {
        Ok(room) => room,
        Err(e) => {
            let cause = crate::error::root_cause(&e);
            let abandoned = match before {
                Some(before) => abandon_half_made_rooms(client, &before, own).await,
                None => 0,
            };
            return Err(Error::Other(if abandoned > 0 {
                format!(
                    "cannot invite {user} to a direct room (the room was removed again): {cause}"
                )
            } else {
                format!("cannot create a direct room with {user}: {cause}")
            }));
        }
    };
    Ok(CallRoom {
        room,
        peer: user.to_owned(),
        peer_joined: false,
    })
}

/// The rooms the account has joined, as the homeserver says (`GET /joined_rooms`); `None` when
/// it cannot be asked.
async fn joined_rooms(client: &Client) -> Option<Vec<OwnedRoomId>> {
    use matrix_sdk::ruma::api::client::membership::joined_rooms;
    match client.send(joined_rooms::v3::Request::new()).await {
        Ok(response) => Some(response.joined_rooms),
        Err(e) => {
            tracing::debug!("cannot list joined rooms: {e}");
            None
        }
    }
}

/// `createRoom` with an invite fails *after* making the room when the invite cannot be sent
/// (Synapse: the invitee's server is unreachable or refuses it), and the error names no room.
/// The rooms joined since `before` in which we are still the only joined member are that room:
/// leave and forget them, so each failed attempt does not leave an empty room behind. A room
/// someone else is in is never touched. Returns how many were removed.
async fn abandon_half_made_rooms(client: &Client, before: &[OwnedRoomId], own: &UserId) -> usize {
    use matrix_sdk::ruma::api::client::membership::{forget_room, joined_members, leave_room};
    let Some(after) = joined_rooms(client).await else {
        return 0;
    };
    let mut removed = 0;
    for room_id in after.iter().filter(|r| !before.contains(r)) {
        let members = client
            .send(joined_members::v3::Request::new(room_id.clone()))
            .await;
        let only_us = members.is_ok_and(|m| m.joined.keys().all(|u| u == own));
        if !only_us {
            continue;
        }
        let left = client
            .send(leave_room::v3::Request::new(room_id.clone()))
            .await
            .is_ok();
        let forgot = left
            && client
                .send(forget_room::v3::Request::new(room_id.clone()))
                .await
                .is_ok();
        tracing::debug!(%room_id, forgot, "removed a direct room whose invite failed");
        removed += 1;
    }
    removed
}

/// Before a direct room is created for a user: their profile must exist (client-server API
/// `GET /profile/{userId}`, which answers 404 `M_NOT_FOUND` for an unknown user), so a typo fails
/// at once instead of inviting nobody and ringing into the void. Any other failure (a
/// homeserver that limits profile look-ups to users who share a room, federation down) is not
/// proof of absence: the call goes on.
async fn ensure_user_exists(client: &Client, user: &UserId) -> Result<()> {
    use matrix_sdk::ruma::api::error::ErrorKind;
    match client.account().fetch_user_profile_of(user).await {
        Ok(_) => Ok(()),
        // Synapse answers an unknown local user with 404 `M_UNKNOWN` ("No row found").
        Err(e)
            if e.client_api_error_kind() == Some(&ErrorKind::NotFound)
                || e.as_client_api_error()
                    .is_some_and(|api| api.status_code.as_u16() == 404) =>
        {
            Err(Error::Usage(format!(
                "{user} does not exist (the homeserver knows no such user); check the user id"
            )))
        }
        Err(e) => {
            tracing::debug!(%user, "profile look-up failed ({e}); calling anyway");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_by_sigil() {
        assert!(matches!(
            Target::parse("!abc:localhost"),
            Ok(Target::Room(_))
        ));
        assert!(matches!(
            Target::parse("#room:localhost"),
            Ok(Target::Alias(_))
        ));
        assert!(matches!(
            Target::parse("@bob:localhost"),
            Ok(Target::User(_))
        ));
        for bad in ["", "bob", "@bob", "#", "room:localhost"] {
            assert!(
                matches!(Target::parse(bad), Err(Error::Usage(_))),
                "{bad:?} accepted"
            );
        }
    }
}
