
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'mxcall' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'mxcall'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'mxcall' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in to a homeserver and store the session in the profile')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Log out: invalidate the token on the server and remove the profile''s local data')
            [CompletionResult]::new('whoami', 'whoami', [CompletionResultType]::ParameterValue, 'Show who the profile is logged in as, after checking the token with the server, and whether this device is cross-signed (trusted by Element) and backs up its keys')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Make this device trusted: emoji verification with another session of your account, or the account''s recovery key')
            [CompletionResult]::new('call', 'call', [CompletionResultType]::ParameterValue, 'Place a call and run it until either side hangs up')
            [CompletionResult]::new('answer', 'answer', [CompletionResultType]::ParameterValue, 'Answer an incoming call (waiting for one if none is ringing): legacy or MatrixRTC')
            [CompletionResult]::new('hangup', 'hangup', [CompletionResultType]::ParameterValue, 'Hang up a call running in another mxcall process, or decline a ringing call')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Report incoming calls as they happen; optionally answer them or run a command for each')
            [CompletionResult]::new('devices', 'devices', [CompletionResultType]::ParameterValue, 'List the audio devices usable with --input/--output device:NAME')
            [CompletionResult]::new('allow', 'allow', [CompletionResultType]::ParameterValue, 'Show or edit the profile''s allowed callers: who `answer` and `watch --answer` may answer automatically, and whose direct-chat invites they join')
            [CompletionResult]::new('hold', 'hold', [CompletionResultType]::ParameterValue, 'Put the call a running mxcall process of this profile holds on hold')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Resume a call this profile''s running mxcall process put on hold')
            [CompletionResult]::new('mute', 'mute', [CompletionResultType]::ParameterValue, 'Mute the microphone of the call a running mxcall process of this profile holds')
            [CompletionResult]::new('unmute', 'unmute', [CompletionResultType]::ParameterValue, 'Unmute the microphone of the call a running mxcall process of this profile holds')
            [CompletionResult]::new('dtmf', 'dtmf', [CompletionResultType]::ParameterValue, 'Send DTMF digits (touch tones) on the call a running mxcall process of this profile holds')
            break
        }
        'mxcall;login' {
            [CompletionResult]::new('--homeserver', '--homeserver', [CompletionResultType]::ParameterName, 'Homeserver URL; skips discovery through .well-known/matrix/client')
            [CompletionResult]::new('--device-name', '--device-name', [CompletionResultType]::ParameterName, 'Display name of the new device')
            [CompletionResult]::new('--save-recovery-key', '--save-recovery-key', [CompletionResultType]::ParameterName, 'For an account without cross-signing: write the new recovery key to this new file (0600) instead of showing it on the terminal')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password from the first line of standard input instead of the terminal')
            [CompletionResult]::new('--recovery-key-stdin', '--recovery-key-stdin', [CompletionResultType]::ParameterName, 'Read the account''s recovery key from standard input (the line after the password with --password-stdin) and use it to cross-sign the new device')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;logout' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Remove the local data even when the homeserver cannot be told')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;whoami' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;verify' {
            [CompletionResult]::new('--device', '--device', [CompletionResultType]::ParameterName, 'Emoji verification only with this device of your account (default: ask all of them)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this many seconds')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--recovery-key', '--recovery-key', [CompletionResultType]::ParameterName, 'Cross-sign this device with the account''s recovery key, asked for without echo')
            [CompletionResult]::new('--recovery-key-stdin', '--recovery-key-stdin', [CompletionResultType]::ParameterName, 'Like --recovery-key, reading the key from the first line of standard input')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Confirm the emoji without asking (a script that compares them elsewhere)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;call' {
            [CompletionResult]::new('--ring-timeout', '--ring-timeout', [CompletionResultType]::ParameterName, 'Give up ringing after this many seconds (also the invite''s lifetime; a MatrixRTC ring lasts at most 90 s)')
            [CompletionResult]::new('--protocol', '--protocol', [CompletionResultType]::ParameterName, 'Which call protocol to use. auto: join the room''s MatrixRTC session if the other member is in one; else MatrixRTC (Element Call, Element X; media end-to-end encrypted in encrypted rooms) when the homeserver advertises a LiveKit transport; else legacy m.call.* (Element Web''s 1:1 calls, Nheko, FluffyChat). matrixrtc fails with exit 7 when the homeserver advertises no LiveKit transport')
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null')
            [CompletionResult]::new('--record', '--record', [CompletionResultType]::ParameterName, 'Also record the received audio to this WAV file (48 kHz mono)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Hang up this many seconds after the call connected (0: as soon as it connects)')
            [CompletionResult]::new('--media-addr', '--media-addr', [CompletionResultType]::ParameterName, 'Local IP address for media (repeatable; default: every interface except loopback)')
            [CompletionResult]::new('--stats-interval', '--stats-interval', [CompletionResultType]::ParameterName, 'With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a call is connected; 0 turns them off')
            [CompletionResult]::new('--dtmf', '--dtmf', [CompletionResultType]::ParameterName, 'Send these DTMF digits (0-9, *, #, A-D; a comma pauses 2 s) --dtmf-delay seconds after a legacy call connected')
            [CompletionResult]::new('--dtmf-delay', '--dtmf-delay', [CompletionResultType]::ParameterName, 'How long after `connected` --dtmf starts')
            [CompletionResult]::new('--hangup-on-dtmf', '--hangup-on-dtmf', [CompletionResultType]::ParameterName, 'Hang up when the other side sends one of these DTMF digits (e.g. ''#'')')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--hangup-after-input', '--hangup-after-input', [CompletionResultType]::ParameterName, 'Hang up when the input ends (end of a WAV file, stdin closed)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;answer' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait this long for a call to arrive; exit 6 if none does')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Also answer calls from this user (repeatable), and join their direct-chat invites; see `mxcall allow`')
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null')
            [CompletionResult]::new('--record', '--record', [CompletionResultType]::ParameterName, 'Also record the received audio to this WAV file (48 kHz mono)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Hang up this many seconds after the call connected (0: as soon as it connects)')
            [CompletionResult]::new('--media-addr', '--media-addr', [CompletionResultType]::ParameterName, 'Local IP address for media (repeatable; default: every interface except loopback)')
            [CompletionResult]::new('--stats-interval', '--stats-interval', [CompletionResultType]::ParameterName, 'With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a call is connected; 0 turns them off')
            [CompletionResult]::new('--dtmf', '--dtmf', [CompletionResultType]::ParameterName, 'Send these DTMF digits (0-9, *, #, A-D; a comma pauses 2 s) --dtmf-delay seconds after a legacy call connected')
            [CompletionResult]::new('--dtmf-delay', '--dtmf-delay', [CompletionResultType]::ParameterName, 'How long after `connected` --dtmf starts')
            [CompletionResult]::new('--hangup-on-dtmf', '--hangup-on-dtmf', [CompletionResultType]::ParameterName, 'Hang up when the other side sends one of these DTMF digits (e.g. ''#'')')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--hangup-after-input', '--hangup-after-input', [CompletionResultType]::ParameterName, 'Hang up when the input ends (end of a WAV file, stdin closed)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;hangup' {
            [CompletionResult]::new('--call-id', '--call-id', [CompletionResultType]::ParameterName, 'Only the call with this id')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Reason sent to the other side: busy (user_busy), or any hangup reason such as user_hangup')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;watch' {
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run this shell command for each incoming call, with MXCALL_ROOM_ID, MXCALL_CALL_ID, MXCALL_CALLER and MXCALL_PROFILE set')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Also allow this user (repeatable): answer their calls with --answer, and join their direct-chat invites')
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null')
            [CompletionResult]::new('--record', '--record', [CompletionResultType]::ParameterName, 'Also record the received audio to this WAV file (48 kHz mono)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Hang up this many seconds after the call connected (0: as soon as it connects)')
            [CompletionResult]::new('--media-addr', '--media-addr', [CompletionResultType]::ParameterName, 'Local IP address for media (repeatable; default: every interface except loopback)')
            [CompletionResult]::new('--stats-interval', '--stats-interval', [CompletionResultType]::ParameterName, 'With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a call is connected; 0 turns them off')
            [CompletionResult]::new('--dtmf', '--dtmf', [CompletionResultType]::ParameterName, 'Send these DTMF digits (0-9, *, #, A-D; a comma pauses 2 s) --dtmf-delay seconds after a legacy call connected')
            [CompletionResult]::new('--dtmf-delay', '--dtmf-delay', [CompletionResultType]::ParameterName, 'How long after `connected` --dtmf starts')
            [CompletionResult]::new('--hangup-on-dtmf', '--hangup-on-dtmf', [CompletionResultType]::ParameterName, 'Hang up when the other side sends one of these DTMF digits (e.g. ''#'')')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Exit after the first call has ended')
            [CompletionResult]::new('--answer', '--answer', [CompletionResultType]::ParameterName, 'Answer each incoming call (one at a time) from an allowed caller; see `mxcall allow`')
            [CompletionResult]::new('--hangup-after-input', '--hangup-after-input', [CompletionResultType]::ParameterName, 'Hang up when the input ends (end of a WAV file, stdin closed)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;devices' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;allow' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--remove', '--remove', [CompletionResultType]::ParameterName, 'Remove the users instead of adding them')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;hold' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;resume' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;mute' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;unmute' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mxcall;dtmf' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile (one login) to use; profiles live side by side in the data directory')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
