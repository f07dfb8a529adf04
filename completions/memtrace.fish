# fish completion for memtrace(1).  Every option of --help is here; tests/docs
# checks that.

# The command given to memtrace (histo, attach, run, ..., help), or nothing.
function __memtrace_command
    for tok in (commandline -opc)[2..-1]
        switch $tok
            case '-*'
                continue
            case '*'
                echo $tok
                return 0
        end
    end
    return 1
end

# True when the command is one of the arguments and the cursor is not in the
# command line that follows `run --`.
function __memtrace_using
    set -l cmd (__memtrace_command); or return 1
    contains -- $cmd $argv; and not __memtrace_after_separator
end

function __memtrace_after_separator
    set -l cmd (__memtrace_command); or return 1
    test $cmd = run; and contains -- -- (commandline -opc)
end

# True while histo/attach/top/snapshot/census/leaks/detach still lacks its PID (option
# values do not count).
function __memtrace_needs_pid
    __memtrace_using histo attach top snapshot census leaks detach; or return 1
    set -l toks (commandline -opc)
    set -l skip 1
    for tok in $toks[3..-1]
        if test $skip -eq 0
            set skip 1
        else if contains -- $tok --duration --interval --top --depth --wrapper --group-by --debug-dir --format --snapshot --output -o --record --snapshot-every --engine --sample-bytes --why --error-exitcode
            set skip 0
        else if not string match -q -- '-*' $tok
            return 1
        end
    end
    # the PID may not follow an option that wants a value
    test $skip -eq 1
end

# Process IDs from /proc with their command names; kernel threads (empty
# cmdline) are left out: memtrace cannot trace them.
function __memtrace_pids
    for dir in (string match -r '^/proc/\d+$' /proc/*)
        set -l cmdline (string split0 <$dir/cmdline 2>/dev/null)
        test -n "$cmdline"; or continue
        read -l comm <$dir/comm 2>/dev/null; or continue
        printf '%s\t%s\n' (string replace /proc/ '' $dir) $comm
    end
end

# What follows `run --` is completed as a command line of its own.
function __memtrace_run_command
    set -l toks (commandline -opc)
    set -l sep (contains -i -- -- $toks)
    set -l rest $toks[(math $sep + 1)..-1]
    if test (count $rest) -eq 0
        __fish_complete_command
    else
        complete -C (string join ' ' -- (string escape -- $rest) (commandline -ct))
    end
end

complete -c memtrace -f

# memtrace [--help | --version] COMMAND
complete -c memtrace -n __fish_use_subcommand -s h -l help -d 'Show the usage'
complete -c memtrace -n __fish_use_subcommand -s V -l version -d 'Show the version'
complete -c memtrace -n __fish_use_subcommand -a histo -d 'Trace a process for a while, then print live memory by site'
complete -c memtrace -n __fish_use_subcommand -a attach -d 'Trace a process until stopped, printing top sites every interval'
complete -c memtrace -n __fish_use_subcommand -a top -d 'Trace a process with a live view: sites ranked by growth, sparklines'
complete -c memtrace -n __fish_use_subcommand -a run -d 'Run a command traced from its start; report what it holds at exit'
complete -c memtrace -n __fish_use_subcommand -a snapshot -d 'Trace a process, then write a snapshot of its live heap'
complete -c memtrace -n __fish_use_subcommand -a census -d 'Every live block now by C++ class and size, and the heap summary'
complete -c memtrace -n __fish_use_subcommand -a leaks -d 'Which blocks nothing points to any more, and who holds the rest'
complete -c memtrace -n __fish_use_subcommand -a diff -d 'Show what grew and shrank between two snapshots'
complete -c memtrace -n __fish_use_subcommand -a report -d 'Write an HTML page over snapshots: growth charts, flame graph, census'
complete -c memtrace -n __fish_use_subcommand -a detach -d 'Remove the hooks a memtrace killed with SIGKILL left in a process'
complete -c memtrace -n __fish_use_subcommand -a help -d 'Show the usage of memtrace or of a command'

# Options of the commands
complete -c memtrace -n '__memtrace_using histo attach run snapshot leaks' -l duration -x -d 'Trace for at most SECONDS (0: no limit)'
complete -c memtrace -n '__memtrace_using histo attach run diff census leaks' -l top -x -d 'Show the N sites holding the most live bytes'
complete -c memtrace -n '__memtrace_using histo attach run diff census leaks' -l json -d 'Print the report as JSON (attach: one object per interval)'
complete -c memtrace -n '__memtrace_using histo attach run' -l format -x -a 'table json folded html pprof' -d 'Output format'
complete -c memtrace -n '__memtrace_using diff' -l format -x -a 'table json folded pprof' -d 'Output format'
complete -c memtrace -n '__memtrace_using census' -l format -x -a 'table json pprof' -d 'Output format'
complete -c memtrace -n '__memtrace_using histo run census' -l snapshot -r -F -d 'Also write a snapshot to FILE'
complete -c memtrace -n '__memtrace_using snapshot' -s o -l output -r -F -d 'The snapshot file to write'
complete -c memtrace -n '__memtrace_using histo attach run diff census leaks' -s o -l output -r -F -d 'Write the report to FILE instead of stdout'
complete -c memtrace -n '__memtrace_using histo attach snapshot' -l no-census -d 'Take no census of the heap at attach'
complete -c memtrace -n '__memtrace_using attach' -l record -r -F -d 'Write a snapshot to FILE at the end'
complete -c memtrace -n '__memtrace_using attach' -l snapshot-every -x -d 'Rewrite the --record snapshot every SECONDS'
complete -c memtrace -n '__memtrace_using diff' -l force -d 'Compare snapshots of different programs'
complete -c memtrace -n '__memtrace_using leaks' -l show-reachable -d 'List every reachable group (default: the 5 largest)'
complete -c memtrace -n '__memtrace_using leaks' -l why -x -d 'Show the chain from a root that holds a C++ class, a size or a site'
complete -c memtrace -n '__memtrace_using leaks' -l error-exitcode -x -d 'Exit N when blocks are definitely or possibly lost'
complete -c memtrace -n '__memtrace_using diff report' -F -d 'Snapshot file'
complete -c memtrace -n '__memtrace_using report' -s o -l output -r -F -d 'Write the HTML page to FILE'
complete -c memtrace -n '__memtrace_using report' -l top -x -d 'Show the N largest sites of the latest snapshot'
complete -c memtrace -n '__memtrace_using histo run' -l stacks -d "Print each row's call stack under it"
complete -c memtrace -n '__memtrace_using histo attach run snapshot' -l engine -x -a 'inject breakpoint' -d 'How the allocator is hooked'
complete -c memtrace -n '__memtrace_using histo attach run snapshot' -l sample-bytes -x -d 'Sample one allocation per N bytes on average; report estimates'
complete -c memtrace -n '__memtrace_using histo attach run snapshot' -l lossless -d 'With --sample-bytes or --depth 1, slow the process down rather than drop events'
complete -c memtrace -n '__memtrace_using histo attach run snapshot' -l jvm-perfmap -d "Name a JVM's JIT frames from the perf map jcmd has it write"
complete -c memtrace -n '__memtrace_using histo attach run snapshot' -l depth -x -d 'Unwind N frames above the allocator (default 32)'
complete -c memtrace -n '__memtrace_using histo attach run snapshot' -l wrapper -x -d 'Treat a function (glob, or MODULE+OFFSET) as an allocator wrapper'
complete -c memtrace -n '__memtrace_using histo attach run snapshot' -l no-default-wrappers -d 'Skip only the allocator, not the well-known program wrappers'
complete -c memtrace -n '__memtrace_using histo attach run diff' -l group-by -x -a 'site stack function module' -d 'Group rows by'
complete -c memtrace -n '__memtrace_using histo attach run snapshot' -l debug-dir -x -a '(__fish_complete_directories)' -d 'Also look for debug info here'
complete -c memtrace -n '__memtrace_using attach' -l interval -x -d 'Print the top sites every SECONDS (default 10)'
complete -c memtrace -n '__memtrace_using histo attach run snapshot census leaks detach' -s v -l verbose -d 'Print attach/detach timing and hooks on stderr'
complete -c memtrace -n '__memtrace_using histo attach run snapshot census leaks diff report detach' -s h -l help -d 'Show the usage of this command'

# memtrace top PID: attach's tracing options, and a live view
complete -c memtrace -n '__memtrace_using top' -l interval -x -d 'Refresh the view every SECONDS (default 2)'
complete -c memtrace -n '__memtrace_using top' -l duration -x -d 'Stop after SECONDS (0: no limit)'
complete -c memtrace -n '__memtrace_using top' -l engine -x -a 'inject breakpoint' -d 'How the allocator is hooked'
complete -c memtrace -n '__memtrace_using top' -l sample-bytes -x -d 'Sample one allocation per N bytes on average; report estimates'
complete -c memtrace -n '__memtrace_using top' -l lossless -d 'With --sample-bytes or --depth 1, slow the process down rather than drop events'
complete -c memtrace -n '__memtrace_using top' -l depth -x -d 'Unwind N frames above the allocator (default 32)'
complete -c memtrace -n '__memtrace_using top' -l wrapper -x -d 'Treat a function (glob, or MODULE+OFFSET) as an allocator wrapper'
complete -c memtrace -n '__memtrace_using top' -l no-default-wrappers -d 'Skip only the allocator, not the well-known program wrappers'
complete -c memtrace -n '__memtrace_using top' -l group-by -x -a 'site stack function module' -d 'Group rows by'
complete -c memtrace -n '__memtrace_using top' -l debug-dir -x -a '(__fish_complete_directories)' -d 'Also look for debug info here'
complete -c memtrace -n '__memtrace_using top' -l no-census -d 'Take no census of the heap at attach'
complete -c memtrace -n '__memtrace_using top' -l jvm-perfmap -d "Name a JVM's JIT frames from the perf map jcmd has it write"
complete -c memtrace -n '__memtrace_using top' -s v -l verbose -d 'Print attach/detach timing and hooks on stderr'
complete -c memtrace -n '__memtrace_using top' -s h -l help -d 'Show the usage of this command'

# Arguments
complete -c memtrace -n __memtrace_needs_pid -x -a '(__memtrace_pids)'
complete -c memtrace -n '__memtrace_using run' -x -a -- -d 'End of memtrace options; COMMAND follows'
complete -c memtrace -n __memtrace_after_separator -x -a '(__memtrace_run_command)'
complete -c memtrace -n '__memtrace_using help; and test (count (commandline -opc)) -eq 2' -x -a 'histo attach top run snapshot census leaks diff report detach help'
