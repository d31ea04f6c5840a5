# bash completion for token(1), the tokenadm command.       -*- shell-script -*-
#
# Installed as share/bash-completion/completions/token, where
# bash-completion loads it on first use; or source it from ~/.bashrc.
# Plain bash suffices: nothing here needs bash-completion's helpers.
#
# The option lists are written out rather than scraped from `token --help`
# at completion time, which would cost a process per <TAB> (and could need
# a configuration file). tests/cli/test_completion.sh fails when they drift
# from the binary's --help.

# The subcommands, in `token --help` order.
_token_commands="init create ensure list show verify revoke rotate renew prune import audit notify config scan serve suspend resume help"

_token_global_options="--dsn --verify-dsn --config --timeout --quiet --help --version"

# _token_options CMD: the long options of `token CMD` (CMD may be
# "config show"), --help included.
_token_options()
{
  case $1 in
    init) echo "--help --check --format" ;;
    create) echo "--help --owner --label --role --scope --contact --meta --expires-in --expires-at --no-expiry --allow-from --max-uses --format --output --count --labels-from-stdin" ;;
    ensure) echo "--help --owner --label --role --scope --contact --meta --expires-in --expires-at --no-expiry --allow-from --max-uses --format --output --converge --dry-run" ;;
    list) echo "--help --owner --label --role --state --used-from --expiring-within --created-before --unused-for --sort --limit --no-headers --format" ;;
    show) echo "--help --format" ;;
    verify) echo "--help --token-file --header --batch --role --scope --from --no-touch --no-audit --format" ;;
    revoke) echo "--help --owner --label --unused-for --all-expired --reason --yes --dry-run --leaked --from --source --legacy --format" ;;
    rotate) echo "--help --overlap --expires-in --format --output" ;;
    renew) echo "--help --expires-in --format" ;;
    prune) echo "--help --older-than --dry-run --format" ;;
    import) echo "--help --owner --label --role --scope --expires-in --expires-at --no-expiry --allow-from --max-uses --from-gs --remove-plaintext --format" ;;
    audit) echo "--help --token --owner --action --since --until --limit --format" ;;
    notify) echo "--help --within --at --dry-run --format" ;;
    serve) echo "--help --listen --cache-ttl --no-touch --no-audit" ;;
    config) echo "--help" ;;
    suspend | resume) echo "--help --owner --label --reason --yes --dry-run" ;;
    "config show") echo "--help --format" ;;
    scan) echo "--help --exclude --format" ;;
    help) echo "--help" ;;
  esac
}

# Options whose next word is their value (global ones included).
_token_value_options=" --dsn --verify-dsn --config --timeout --owner --label --role --scope --contact --meta --expires-in --expires-at --format --output --count --state --expiring-within --created-before --token-file --reason --overlap --older-than --token --action --since --until --limit --within --exclude --listen --cache-ttl --allow-from --max-uses --from --used-from --unused-for --source --at --sort "

# _token_values CMD OPTION: completes the value of OPTION into COMPREPLY.
_token_values()
{
  local cmd=$1 opt=$2 words=''
  case $opt in
    --format)
      case $cmd in
        list | audit) words="table tsv json" ;;
        *) words="text json" ;;
      esac
      ;;
    --role) words="api feed vcs http all" ;;
    --state) words="active suspended expired revoked all" ;;
    --action) words="create ensure import revoke rotate renew suspend resume prune verify verify-failed mail notify" ;;
    --sort) words="created expires owner label last-used" ;;
    --from)
      # revoke --leaked --from FILE; verify's --from is an address.
      [[ $cmd == revoke ]] || return
      compopt -o filenames 2>/dev/null || true
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return
      ;;
    --config | --output | --token-file)
      compopt -o filenames 2>/dev/null || true
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return
      ;;
  esac
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

_token()
{
  local cur=${COMP_WORDS[COMP_CWORD]} prev='' cmd='' sub='' i w before
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()

  # --opt=value: bash splits it into "--opt" "=" "value".
  if [[ $cur == = ]]; then
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    cur=
  elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi

  # The subcommand (and config's own) are the first words that are neither
  # options nor their values.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
      = | -*) continue ;;
    esac
    before=${COMP_WORDS[i - 1]}
    [[ $before == = ]] && continue
    [[ $_token_value_options == *" $before "* ]] && continue
    if [[ -z $cmd ]]; then
      cmd=$w
    elif [[ $cmd == config && -z $sub ]]; then
      sub=$w
    fi
  done

  if [[ $_token_value_options == *" $prev "* ]]; then
    _token_values "$cmd" "$prev"
    return 0
  fi

  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$_token_global_options" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$_token_commands" -- "$cur")
    fi
    return 0
  fi

  case $cmd in
    scan)
      if [[ $cur != -* ]]; then
        compopt -o filenames 2>/dev/null || true
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
      fi
      ;;
    help)
      [[ $cur != -* ]] && mapfile -t COMPREPLY < <(compgen -W "${_token_commands% help}" -- "$cur")
      return 0
      ;;
    config)
      if [[ -z $sub && $cur != -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "show" -- "$cur")
        return 0
      fi
      [[ -n $sub ]] && cmd="config $sub"
      ;;
  esac

  # Global options are accepted after the subcommand too (--help is in
  # every command's own list).
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_token_options "$cmd") --dsn --verify-dsn --config --timeout --quiet" -- "$cur")
  fi
  return 0
}

complete -F _token token
