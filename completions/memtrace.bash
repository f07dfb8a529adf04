# bash completion for memtrace(1)                          -*- shell-script -*-
#
# Works alone or with the bash-completion package (then the command after
# `memtrace run --` gets its own completions).  Every option of --help is
# here; tests/docs checks that.

# Process IDs from /proc.  bash cannot show descriptions, so only the
# numbers; kernel threads (empty cmdline) are left out since memtrace
# cannot trace them.
_memtrace_pids()
{
    local dir cmdline
    for dir in /proc/[0-9]*; do
        [[ -r $dir/cmdline ]] || continue
        read -r -d '' cmdline < "$dir/cmdline" 2>/dev/null
        [[ -n $cmdline ]] && printf '%s\n' "${dir#/proc/}"
    done
}

_memtrace()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd='' npos=0 dashdash=0 i word
    COMPREPLY=()

    # Find the command, the number of its positional arguments before the
    # cursor, and for `run` where `--` ends memtrace's own options.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ -z $cmd ]]; then
            [[ $word == -* ]] || cmd=$word
        elif [[ $cmd == run && $word == -- ]]; then
            dashdash=$i
            break
        elif [[ $word == --@(duration|interval|top|depth|wrapper|group-by|debug-dir|format|snapshot|output|record|snapshot-every|engine|sample-bytes|why|error-exitcode) || $word == -o ]]; then
            ((i++))        # skip the option's value
        elif [[ $word != -* ]]; then
            ((npos++))
        fi
    done

    if ((dashdash)); then
        if ((COMP_CWORD == dashdash + 1)); then
            mapfile -t COMPREPLY < <(compgen -c -- "$cur")
        elif declare -F _command_offset >/dev/null; then
            _command_offset $((dashdash + 1))
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
        return 0
    fi

    case $prev in
    --duration | --interval | --top | --depth | --wrapper | --snapshot-every | --sample-bytes | --why | --error-exitcode)
        return 0          # a number, a function or a type name: nothing to offer
        ;;
    --group-by)
        mapfile -t COMPREPLY < <(compgen -W 'site stack function module' -- "$cur")
        return 0
        ;;
    --debug-dir)
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        return 0
        ;;
    --engine)
        mapfile -t COMPREPLY < <(compgen -W 'inject breakpoint' -- "$cur")
        return 0
        ;;
    --format)
        if [[ $cmd == census ]]; then
            mapfile -t COMPREPLY < <(compgen -W 'table json pprof' -- "$cur")
        elif [[ $cmd == diff ]]; then
            mapfile -t COMPREPLY < <(compgen -W 'table json folded pprof' -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W 'table json folded html pprof' -- "$cur")
        fi
        return 0
        ;;
    --snapshot | --output | -o | --record)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
        ;;
    esac

    local opts
    case $cmd in
    '')
        if [[ $cur == -* ]]; then
            opts='--help -h --version -V'
        else
            opts='histo attach top run snapshot census leaks diff report detach help'
        fi
        ;;
    histo)
        opts='--duration --top --json --format --output -o --stacks --snapshot --engine --sample-bytes --lossless --depth --wrapper --no-default-wrappers --group-by --debug-dir --no-census --jvm-perfmap --verbose -v --help -h'
        ;;
    attach)
        opts='--interval --duration --top --json --format --output -o --record --snapshot-every --engine --sample-bytes --lossless --depth --wrapper --no-default-wrappers --group-by --debug-dir --no-census --jvm-perfmap --verbose -v --help -h'
        ;;
    top)
        opts='--interval --duration --engine --sample-bytes --lossless --depth --wrapper --no-default-wrappers --group-by --debug-dir --no-census --jvm-perfmap --verbose -v --help -h'
        ;;
    run)
        opts='--duration --top --json --format --output -o --stacks --snapshot --engine --sample-bytes --lossless --depth --wrapper --no-default-wrappers --group-by --debug-dir --jvm-perfmap --verbose -v --help -h --'
        ;;
    snapshot)
        opts='--output -o --duration --engine --sample-bytes --lossless --depth --wrapper --no-default-wrappers --debug-dir --no-census --jvm-perfmap --verbose -v --help -h'
        ;;
    census)
        opts='--json --format --top --output -o --snapshot --verbose -v --help -h'
        ;;
    leaks)
        opts='--json --output -o --show-reachable --top --duration --why --error-exitcode --verbose -v --help -h'
        ;;
    detach)
        opts='--verbose -v --help -h'
        ;;
    diff)
        if [[ $cur == -* ]]; then
            opts='--json --format --output -o --group-by --top --force --help -h'
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0
        fi
        ;;
    report)
        if [[ $cur == -* ]]; then
            opts='--output -o --top --help -h'
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0
        fi
        ;;
    help)
        ((npos == 0)) && opts='histo attach top run snapshot census leaks diff report detach help'
        ;;
    *)
        return 0
        ;;
    esac

    if [[ ($cmd == histo || $cmd == attach || $cmd == top || $cmd == snapshot || $cmd == census || $cmd == leaks || $cmd == detach) && $npos -eq 0 && $cur != -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_memtrace_pids)" -- "$cur")
        return 0
    fi
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    return 0
}

complete -F _memtrace memtrace
