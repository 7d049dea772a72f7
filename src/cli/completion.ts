/** `strata completion bash|zsh`: completion scripts generated from the command tree itself. */
import type { Command } from 'commander';

/** Top-level words, and each family's verbs and options. */
function words(program: Command): { top: string[]; sub: Map<string, string[]> } {
  const top = program.commands.map((c) => c.name());
  const sub = new Map<string, string[]>();
  for (const command of program.commands) {
    const verbs = command.commands.map((c) => c.name());
    const flags = [...command.options, ...command.commands.flatMap((c) => c.options)].map((o) => o.long).filter((f): f is string => f !== undefined);
    sub.set(command.name(), [...new Set([...verbs, ...flags])]);
  }
  return { top: [...top, '--output', '--url', '--help'], sub };
}

export function bashCompletion(program: Command): string {
  const { top, sub } = words(program);
  const cases = [...sub].map(([name, list]) => `    ${name}) COMPREPLY=($(compgen -W "${list.join(' ')}" -- "$cur")) ;;`).join('\n');
  return `# strata bash completion: eval "$(strata completion bash)"
_strata() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${top.join(' ')}" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
}
complete -F _strata strata
`;
}

export function zshCompletion(program: Command): string {
  const { top, sub } = words(program);
  const cases = [...sub].map(([name, list]) => `    ${name}) compadd -- ${list.join(' ')} ;;`).join('\n');
  return `#compdef strata
# strata zsh completion: eval "$(strata completion zsh)" (after compinit)
_strata() {
  if (( CURRENT == 2 )); then
    compadd -- ${top.join(' ')}
    return
  fi
  case "$words[2]" in
${cases}
  esac
}
compdef _strata strata
`;
}
