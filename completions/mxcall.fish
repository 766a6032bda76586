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
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "whoami" -d 'Show who the profile is logged in as, after checking the token with the server'
complete -c mxcall -n "__fish_mxcall_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l homeserver -d 'Homeserver URL; skips discovery through .well-known/matrix/client' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l device-name -d 'Display name of the new device' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l profile -d 'Profile (one login) to use; profiles live side by side in the data directory' -r
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l password-stdin -d 'Read the password from the first line of standard input instead of the terminal'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -l json -d 'Print machine-readable JSON on stdout'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -s q -l quiet -d 'Print nothing but errors'
complete -c mxcall -n "__fish_mxcall_using_subcommand login" -s h -l help -d 'Print help'
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
complete -c mxcall -n "__fish_mxcall_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami help" -f -a "login" -d 'Log in to a homeserver and store the session in the profile'
complete -c mxcall -n "__fish_mxcall_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami help" -f -a "logout" -d 'Log out: invalidate the token on the server and remove the profile\'s local data'
complete -c mxcall -n "__fish_mxcall_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami help" -f -a "whoami" -d 'Show who the profile is logged in as, after checking the token with the server'
complete -c mxcall -n "__fish_mxcall_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
