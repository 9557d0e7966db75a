#!/usr/bin/env bash
# bash completion of hubctl (config/hubctl.bash-completion) against the built hubctl: commands,
# a command's options, KIND words, peer subcommands, --kind values, and every command that
# 'hubctl --help' lists is offered.
# usage: test_completion.sh COMPLETION_FILE HUBCTL
set -uo pipefail
source "$1"
hubctl=$2
failed=0 passed=0
comp() {
    COMP_WORDS=("$hubctl" "$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _hubctl
    echo "${COMPREPLY[*]}"
}
expect() { # description got want
    if [ "$2" = "$3" ]; then
        passed=$((passed + 1))
    else
        echo "FAIL: $1: got '$2', want '$3'"
        failed=$((failed + 1))
    fi
}
expect "commands starting pe" "$(comp pe)" "peer peers"
expect "query option --cou" "$(comp query --cou)" "--country"
expect "publish KIND" "$(comp publish o)" "offer"
expect "publish after -s PATH" "$(comp -s /tmp/x.sock publish r)" "request response"
expect "peer subcommand" "$(comp peer "")" "add remove"
expect "--kind values" "$(comp query --kind re)" "request response retraction"
expect "global options" "$(comp --js)" "--json"
expect "web-token option" "$(comp web-token --ro)" "--rotate"
all=$("$hubctl" --help | awk '/^Commands:/{f=1;next} f&&/^$/{exit} f&&/^  [a-z]/{print $1}' | sort -u | tr '\n' ' ')
expect "every command" "$(comp "") " "$all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
