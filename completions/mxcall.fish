# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mxcall_global_optspecs
    string join \n profile= json v/verbose q/quiet h/help V/version
end

function __fish_mxcall_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mxcall_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mxcall_using_subcommand
    set -l cmd (__fish_mxcall_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mxcall -n "__fish_mxcall_needs_command" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_needs_command" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_needs_command" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_needs_command" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_needs_command" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "login" -d 'Log in to a homeserver and store the session in the profile'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "logout" -d 'Log out: invalidate the token on the server and remove the profile\'s local data'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "whoami" -d 'Show who the profile is logged in as, after checking the token with the server, and whether this device is cross-signed (trusted by Element) and backs up its keys'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "verify" -d 'Make this device trusted: emoji verification with another session of your account, or the account\'s recovery key'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "call" -d 'Place a call and run it until either side hangs up'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "answer" -d 'Answer an incoming call (waiting for one if none is ringing): legacy or MatrixRTC'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "hangup" -d 'Hang up a call running in another mxcall process, or decline a ringing call'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "watch" -d 'Report incoming calls as they happen; optionally answer them or run a command for each'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "devices" -d 'List the audio devices usable with --input/--output device:NAME'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "allow" -d 'Show or edit the profile\'s allowed callers: who `answer` and `watch --answer` may answer automatically, and whose direct-chat invites they join'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "hold" -d 'Put the call a running mxcall process of this profile holds on hold'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "resume" -d 'Resume a call this profile\'s running mxcall process put on hold'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "mute" -d 'Mute the microphone of the call a running mxcall process of this profile holds'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "unmute" -d 'Unmute the microphone of the call a running mxcall process of this profile holds'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "dtmf" -d 'Send DTMF digits (touch tones) on the call a running mxcall process of this profile holds'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l homeserver -d 'Homeserver URL; skips discovery through .well-known/matrix/client' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l device-name -d 'Display name of the new device' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l save-recovery-key -d 'For an account without cross-signing: write the new recovery key to this new file (0600) instead of showing it on the terminal' -r -F
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l password-stdin -d 'Read the password from the first line of standard input instead of the terminal'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l recovery-key-stdin -d 'Read the account\'s recovery key from standard input (the line after the password with --password-stdin) and use it to cross-sign the new device'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand logout" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand logout" -l force -d 'Remove the local data even when the homeserver cannot be told'
complete -c mxcall -n "__fish_mxcall_using_subcommand logout" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand logout" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand logout" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand logout" -s h -l help -d 'Print help'
complete -c mxcall -n "__fish_mxcall_using_subcommand logout" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand whoami" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand whoami" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand whoami" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand whoami" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand whoami" -s h -l help -d 'Print help'
complete -c mxcall -n "__fish_mxcall_using_subcommand whoami" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -l device -d 'Emoji verification only with this device of your account (default: ask all of them)' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -l timeout -d 'Give up after this many seconds' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -l recovery-key -d 'Cross-sign this device with the account\'s recovery key, asked for without echo'
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -l recovery-key-stdin -d 'Like --recovery-key, reading the key from the first line of standard input'
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -l yes -d 'Confirm the emoji without asking (a script that compares them elsewhere)'
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_using_subcommand verify" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l ring-timeout -d 'Give up ringing after this many seconds (also the invite\'s lifetime; a MatrixRTC ring lasts at most 90 s)' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l protocol -d 'Which call protocol to use. auto: join the room\'s MatrixRTC session if the other member is in one; else MatrixRTC (Element Call, Element X; media end-to-end encrypted in encrypted rooms) when the homeserver advertises a LiveKit transport; else legacy m.call.* (Element Web\'s 1:1 calls, Nheko, FluffyChat). matrixrtc fails with exit 7 when the homeserver advertises no LiveKit transport' -r -f -a "auto\t'MatrixRTC when the room has a session or the homeserver a LiveKit transport, else legacy'
legacy\t'Matrix VoIP 1:1 calls (`m.call.invite`…)'
matrixrtc\t'MatrixRTC with a LiveKit SFU, as Element Call and Element X'"
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l input -d 'Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l output -d 'Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l record -d 'Also record the received audio to this WAV file (48 kHz mono)' -r -F
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l duration -d 'Hang up this many seconds after the call connected (0: as soon as it connects)' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l media-addr -d 'Local IP address for media (repeatable; default: every interface except loopback)' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l stats-interval -d 'With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a call is connected; 0 turns them off' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l dtmf -d 'Send these DTMF digits (0-9, *, #, A-D; a comma pauses 2 s) --dtmf-delay seconds after a legacy call connected' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l dtmf-delay -d 'How long after `connected` --dtmf starts' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l hangup-on-dtmf -d 'Hang up when the other side sends one of these DTMF digits (e.g. \'#\')' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l hangup-after-input -d 'Hang up when the input ends (end of a WAV file, stdin closed)'
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_using_subcommand call" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l wait -d 'Wait this long for a call to arrive; exit 6 if none does' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l from -d 'Also answer calls from this user (repeatable), and join their direct-chat invites; see `mxcall allow`' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l input -d 'Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l output -d 'Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l record -d 'Also record the received audio to this WAV file (48 kHz mono)' -r -F
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l duration -d 'Hang up this many seconds after the call connected (0: as soon as it connects)' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l media-addr -d 'Local IP address for media (repeatable; default: every interface except loopback)' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l stats-interval -d 'With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a call is connected; 0 turns them off' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l dtmf -d 'Send these DTMF digits (0-9, *, #, A-D; a comma pauses 2 s) --dtmf-delay seconds after a legacy call connected' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l dtmf-delay -d 'How long after `connected` --dtmf starts' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l hangup-on-dtmf -d 'Hang up when the other side sends one of these DTMF digits (e.g. \'#\')' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l hangup-after-input -d 'Hang up when the input ends (end of a WAV file, stdin closed)'
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -s h -l help -d 'Print help'
complete -c mxcall -n "__fish_mxcall_using_subcommand answer" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand hangup" -l call-id -d 'Only the call with this id' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand hangup" -l reason -d 'Reason sent to the other side: busy (user_busy), or any hangup reason such as user_hangup' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand hangup" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand hangup" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand hangup" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand hangup" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand hangup" -s h -l help -d 'Print help'
complete -c mxcall -n "__fish_mxcall_using_subcommand hangup" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l exec -d 'Run this shell command for each incoming call, with MXCALL_ROOM_ID, MXCALL_CALL_ID, MXCALL_CALLER and MXCALL_PROFILE set' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l from -d 'Also allow this user (repeatable): answer their calls with --answer, and join their direct-chat invites' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l input -d 'Audio to send: default, device:NAME, FILE.wav, wav:FILE, raw:- (s16le 48 kHz mono on stdin), tone:FREQ, null' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l output -d 'Where received audio goes: default, device:NAME, FILE.wav, wav:FILE, raw:- (stdout), null' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l record -d 'Also record the received audio to this WAV file (48 kHz mono)' -r -F
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l duration -d 'Hang up this many seconds after the call connected (0: as soon as it connects)' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l media-addr -d 'Local IP address for media (repeatable; default: every interface except loopback)' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l stats-interval -d 'With --json: a `stats` event (RTT, loss, jitter, bitrates, MOS) this often while a call is connected; 0 turns them off' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l dtmf -d 'Send these DTMF digits (0-9, *, #, A-D; a comma pauses 2 s) --dtmf-delay seconds after a legacy call connected' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l dtmf-delay -d 'How long after `connected` --dtmf starts' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l hangup-on-dtmf -d 'Hang up when the other side sends one of these DTMF digits (e.g. \'#\')' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l once -d 'Exit after the first call has ended'
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l answer -d 'Answer each incoming call (one at a time) from an allowed caller; see `mxcall allow`'
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l hangup-after-input -d 'Hang up when the input ends (end of a WAV file, stdin closed)'
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -s h -l help -d 'Print help'
complete -c mxcall -n "__fish_mxcall_using_subcommand watch" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand devices" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand devices" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand devices" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand devices" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand devices" -s h -l help -d 'Print help'
complete -c mxcall -n "__fish_mxcall_using_subcommand devices" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand allow" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand allow" -l remove -d 'Remove the users instead of adding them'
complete -c mxcall -n "__fish_mxcall_using_subcommand allow" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand allow" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand allow" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand allow" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_using_subcommand allow" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand hold" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand hold" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand hold" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand hold" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand hold" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_using_subcommand hold" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand resume" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand resume" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand resume" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand resume" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand resume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_using_subcommand resume" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand mute" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand mute" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand mute" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand mute" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand mute" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_using_subcommand mute" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand unmute" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand unmute" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand unmute" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand unmute" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand unmute" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_using_subcommand unmute" -s V -l version -d 'Print version'
complete -c mxcall -n "__fish_mxcall_using_subcommand dtmf" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand dtmf" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand dtmf" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand dtmf" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand dtmf" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mxcall -n "__fish_mxcall_using_subcommand dtmf" -s V -l version -d 'Print version'
