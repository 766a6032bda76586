
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
            cand whoami 'Show who the profile is logged in as, after checking the token with the server'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mxcall;login'= {
            cand --homeserver 'Homeserver URL; skips discovery through .well-known/matrix/client'
            cand --device-name 'Display name of the new device'
            cand --profile 'Profile (one login) to use; profiles live side by side in the data directory'
            cand --password-stdin 'Read the password from the first line of standard input instead of the terminal'
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
        &'mxcall;help'= {
            cand login 'Log in to a homeserver and store the session in the profile'
            cand logout 'Log out: invalidate the token on the server and remove the profile''s local data'
            cand whoami 'Show who the profile is logged in as, after checking the token with the server'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mxcall;help;login'= {
        }
        &'mxcall;help;logout'= {
        }
        &'mxcall;help;whoami'= {
        }
        &'mxcall;help;help'= {
        }
    ]
    $completions[$command]
}
