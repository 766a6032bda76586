
use builtin;
use str;

set edit:completion:arg-completer[mxcall] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'mxcall'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'mxcall'= {
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand login 'Log in to a homeserver and store the session in the profile'
            cand logout 'Log out: invalidate the token on the server and remove the profile''s local data'
            cand whoami 'Show who the profile is logged in as, after checking the token with the server, and whether this device is cross-signed (trusted by Element) and backs up its keys'
            cand verify 'Make this device trusted: emoji verification with another session of your account, or the account''s recovery key'
            cand call 'Place a call and run it until either side hangs up'
            cand answer 'Answer an incoming call (waiting for one if none is ringing): legacy or MatrixRTC'
            cand hangup 'Hang up a call running in another mxcall process, or decline a ringing call'
            cand watch 'Report incoming calls as they happen; optionally answer them or run a command for each'
            cand devices 'List the audio devices usable with --input/--output device:NAME'
            cand allow 'Show or edit the profile''s allowed callers: who `answer` and `watch --answer` may answer automatically, and whose direct-chat invites they join'
        }
        &'mxcall;login'= {
            cand --homeserver 'Homeserver URL; skips discovery through .well-known/matrix/client'
            cand --device-name 'Display name of the new device'
            cand --save-recovery-key 'For an account without cross-signing: write the new recovery key to this new file (0600) instead of showing it on the terminal'
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --password-stdin 'Read the password from the first line of standard input instead of the terminal'
            cand --recovery-key-stdin 'Read the account''s recovery key from standard input (the line after the password with --password-stdin) and use it to cross-sign the new device'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mxcall;logout'= {
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --force 'Remove the local data even when the homeserver cannot be told'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mxcall;whoami'= {
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mxcall;verify'= {
            cand --device 'Emoji verification only with this device of your account (default: ask all of them)'
            cand --timeout 'Give up after this many seconds'
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --recovery-key 'Cross-sign this device with the account''s recovery key, asked for without echo'
            cand --recovery-key-stdin 'Like --recovery-key, reading the key from the first line of standard input'
            cand --yes 'Confirm the emoji without asking (a script that compares them elsewhere)'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mxcall;call'= {
            cand --ring-timeout 'Give up ringing after this many seconds (also the invite''s lifetime; a MatrixRTC ring lasts at most 90 s)'
            cand --protocol 'Which call protocol to use. auto: join the room''s MatrixRTC session if the other member is in one; else MatrixRTC (Element Call, Element X; media end-to-end encrypted in encrypted rooms) when the homeserver advertises a LiveKit transport; else legacy m.call.* (Element Web''s 1:1 calls, Nheko, FluffyChat). matrixrtc fails with exit 7 when the homeserver advertises no LiveKit transport'
            cand --input 'Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null'
            cand --output 'Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null'
            cand --record 'Also record the received audio to this WAV file (48 kHz mono)'
            cand --duration 'Hang up this many seconds after the call connected'
            cand --media-addr 'Local IP address for media (repeatable; default: every interface except loopback)'
            cand --stats-interval 'With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a call is connected; 0 turns them off'
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --hangup-after-input 'Hang up when the input ends (end of a WAV file, stdin closed)'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mxcall;answer'= {
            cand --wait 'Wait this long for a call to arrive; exit 6 if none does'
            cand --from 'Also answer calls from this user (repeatable), and join their direct-chat invites; see `mxcall allow`'
            cand --input 'Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null'
            cand --output 'Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null'
            cand --record 'Also record the received audio to this WAV file (48 kHz mono)'
            cand --duration 'Hang up this many seconds after the call connected'
            cand --media-addr 'Local IP address for media (repeatable; default: every interface except loopback)'
            cand --stats-interval 'With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a call is connected; 0 turns them off'
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --hangup-after-input 'Hang up when the input ends (end of a WAV file, stdin closed)'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mxcall;hangup'= {
            cand --call-id 'Only the call with this id'
            cand --reason 'Reason sent to the other side: busy (user_busy), or any hangup reason such as user_hangup'
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mxcall;watch'= {
            cand --exec 'Run this shell command for each incoming call, with MXCALL_ROOM_ID, MXCALL_CALL_ID and MXCALL_CALLER set'
            cand --from 'Also allow this user (repeatable): answer their calls with --answer, and join their direct-chat invites'
            cand --input 'Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null'
            cand --output 'Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null'
            cand --record 'Also record the received audio to this WAV file (48 kHz mono)'
            cand --duration 'Hang up this many seconds after the call connected'
            cand --media-addr 'Local IP address for media (repeatable; default: every interface except loopback)'
            cand --stats-interval 'With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a call is connected; 0 turns them off'
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --once 'Exit after the first call has ended'
            cand --answer 'Answer each incoming call (one at a time) from an allowed caller; see `mxcall allow`'
            cand --hangup-after-input 'Hang up when the input ends (end of a WAV file, stdin closed)'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mxcall;devices'= {
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mxcall;allow'= {
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --remove 'Remove the users instead of adding them'
            cand --json 'Print machine-readable JSON on stdout'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
