// End-to-end encryption as Element Web sets it up — matrix-js-sdk's Rust crypto, a cross-signing
// identity, secret storage, an encrypted DM — shared by the pages of peer.mjs (page.js, MatrixCall)
// and rtc-peer.mjs (rtc-page.js, a MatrixRTC session as Element Call).
//
//   const kit = cryptoKit({ user, report })
//   createClient({ …, cryptoCallbacks: kit.cryptoCallbacks })
//   await kit.start(client, { isolation })     the secrets from the driver (window.mxpeerSecrets),
//                                              initRustCrypto, the isolation mode; reports "crypto"
//   await kit.setUpIdentity(client, { bootstrap })   after the first sync: a new identity
//                                              (bootstrap) or this device joins the old one (a
//                                              recovery key from the driver); else nothing
//   const roomId = await kit.createDm(client, other[, joinedEvent])  Element's "start DM" (encrypted);
//                                              reports room, joinedEvent (default member_joined) and
//                                              devices_known
//
// Secrets (the account password, a recovery key) never travel in the URL: the page asks the driver
// for them through window.mxpeerSecrets ({ password, recoveryKey }).

import { EventType, RoomMemberEvent } from "matrix-js-sdk";
import { OnlySignedDevicesIsolationMode, decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/index.js";

export function cryptoKit({ user, report }) {
    // The driver hands out the secrets on request (they never appear in a URL or a process listing):
    // { password, recoveryKey }, fetched in start().
    let secrets = {};

    // The secret-storage key in use: a new one (bootstrap) or the recovery key we were given. Element
    // keeps it in a cache the same way while it sets up or restores.
    const ssss = { keyId: undefined, key: undefined };
    const cryptoCallbacks = {
        // js-sdk asks for the key whenever it reads or writes secret storage.
        async getSecretStorageKey({ keys }) {
            if (!ssss.key) return null;
            if (ssss.keyId && keys[ssss.keyId]) return [ssss.keyId, ssss.key];
            // A recovery key we were given: find which of the account's keys it is.
            for (const [keyId, info] of Object.entries(keys)) {
                if (await window.mxClient.secretStorage.checkKey(ssss.key, info)) {
                    ssss.keyId = keyId;
                    return [keyId, ssss.key];
                }
            }
            report("error", { message: "the recovery key matches none of the secret storage keys" });
            return null;
        },
        cacheSecretStorageKey(keyId, _keyInfo, key) {
            ssss.keyId = keyId;
            ssss.key = key;
        },
    };

    /**
     * Cross-signing key upload is behind user-interactive auth: try without (Synapse lets a user's
     * first upload through), then with the account's password, as Element's password prompt does.
     */
    async function authUploadDeviceSigningKeys(makeRequest) {
        try {
            await makeRequest(null);
        } catch (e) {
            if (e?.httpStatus !== 401 || !e?.data?.flows) throw e;
            if (!secrets.password) throw new Error("the server wants the password (MXPEER_PASSWORD) for cross-signing");
            await makeRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user },
                password: secrets.password,
                session: e.data.session,
            });
        }
    }

    /** Before startClient: the secrets, the Rust crypto and its isolation mode. */
    async function start(client, { isolation }) {
        if (window.mxpeerSecrets) secrets = await window.mxpeerSecrets();
        // Loads the crypto WASM (served by the driver next to the page's script) and opens its
        // IndexedDB store — a new one each run, as the driver gives Chromium a new profile each run.
        await client.initRustCrypto();
        if (isolation === "only-signed") {
            // Element's "exclude insecure devices": send room keys only to devices their owners
            // cross-signed, and refuse to decrypt what other devices sent.
            client.getCrypto().setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
        }
        report("crypto", { version: client.getCrypto().getVersion(), isolation });
    }

    /** After the first sync: a new identity (bootstrap) or this device joins the old one (a recovery key). */
    async function setUpIdentity(client, { bootstrap }) {
        const crypto = client.getCrypto();
        if (!bootstrap && !secrets.recoveryKey) return;
        // As Element after login: a fresh /keys/query of our own user first. Without our public
        // cross-signing keys the machine cannot take the private ones from secret storage, and this is
        // how we know whether the account has an identity already.
        const hasIdentity = await crypto.userHasCrossSigningKeys(user, true);
        if (bootstrap) {
            // Element offers a new identity only to an account without one (anything else is a reset).
            if (hasIdentity) throw new Error("--bootstrap: the account has a cross-signing identity already");
            // Element's first login: cross-signing, then secret storage under a new recovery key holding
            // the cross-signing keys, then a new key backup whose key goes to secret storage too.
            await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys });
            const recoveryKey = await crypto.createRecoveryKeyFromPassphrase();
            await crypto.bootstrapSecretStorage({
                createSecretStorageKey: async () => recoveryKey,
                setupNewSecretStorage: true,
                setupNewKeyBackup: true,
            });
            report("recovery_key", { key: recoveryKey.encodedPrivateKey });
        } else {
            // Element's "verify with recovery key": unlock secret storage, import the cross-signing keys
            // (bootstrapCrossSigning signs this device with them), then use the key backup.
            if (!hasIdentity) throw new Error("--recovery-key: the account has no cross-signing identity");
            ssss.key = decodeRecoveryKey(secrets.recoveryKey);
            await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys });
            try {
                await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
                await crypto.checkKeyBackupAndEnable();
            } catch (e) {
                report("warning", { message: "key backup: " + e });
            }
        }
        await crypto.userHasCrossSigningKeys(user, true); // brings back our device's new signature
        const own = await crypto.getDeviceVerificationStatus(user, client.getDeviceId());
        const status = {
            cross_signing_ready: await crypto.isCrossSigningReady(),
            secret_storage_ready: await crypto.isSecretStorageReady(),
            backup_version: await crypto.getActiveSessionBackupVersion(),
            device_signed_by_owner: own?.signedByOwner ?? false,
        };
        // js-sdk logs some failures (such as a refused key upload) without throwing: check the outcome.
        if (!status.cross_signing_ready || !status.device_signed_by_owner) {
            throw new Error(`cross-signing is not set up: ${JSON.stringify(status)}`);
        }
        report("cross_signing_ready", status);
    }

    /** Resolves once `userId` has joined `roomId` (as our sync sees it). */
    function memberJoined(client, roomId, userId) {
        return new Promise((resolve) => {
            const check = () => {
                if (client.getRoom(roomId)?.getMember(userId)?.membership !== "join") return false;
                client.off(RoomMemberEvent.Membership, onMembership);
                resolve();
                return true;
            };
            const onMembership = (ev) => ev.getRoomId() === roomId && check();
            client.on(RoomMemberEvent.Membership, onMembership);
            check();
        });
    }

    /** Element's "start DM": a private, encrypted room with the other user invited, listed in m.direct. */
    async function createDm(client, other, joinedEvent = "member_joined") {
        const { room_id: roomId } = await client.createRoom({
            preset: "trusted_private_chat",
            visibility: "private",
            is_direct: true,
            invite: [other],
            initial_state: [
                { type: EventType.RoomEncryption, state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
            ],
        });
        report("room", { room_id: roomId });
        const direct = client.getAccountData(EventType.Direct)?.getContent() ?? {};
        await client.setAccountData(EventType.Direct, { ...direct, [other]: [...(direct[other] ?? []), roomId] });
        await memberJoined(client, roomId, other);
        report(joinedEvent, { room_id: roomId, user: other });
        // js-sdk would also fetch the other party's devices itself before it first encrypts; doing it
        // now shows what it will encrypt for (with --isolation only-signed: the cross-signed ones).
        const devices = (await client.getCrypto().getUserDeviceInfo([other], true)).get(other);
        report("devices_known", { user: other, devices: [...(devices?.keys() ?? [])] });
        return roomId;
    }

    return { cryptoCallbacks, start, setUpIdentity, createDm, memberJoined };
}
