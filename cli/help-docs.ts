import type { Command } from "./command.js";
import { COMMANDS } from "./commands.js";

/** What completion needs to know about one subcommand, read from its help text. */
export interface CommandWords {
  name: string;
  /** Options named in the usage text (`--config`, `-c`, ...). */
  options: string[];
  /** Sub-words from a `<a|b|c>` in the usage line (e.g. certs init|issue|show|revoke). */
  words: string[];
}

/** Loads every command of the table (for the man page and completion only: this loads all their code). */
export async function loadAllCommands(): Promise<Command[]> {
  return Promise.all(COMMANDS.map((entry) => entry.load()));
}

/** The options and sub-words a usage text names. */
export function commandWords(command: Command): CommandWords {
  const options = new Set<string>();
  for (const line of command.usage.split("\n")) {
    const m = /^\s{2,}(?:(-[A-Za-z]),\s+)?(--[a-z][a-z0-9-]*)/.exec(line);
    if (m) {
      if (m[1]) options.add(m[1]);
      options.add(m[2]!);
    }
  }
  const first = command.usage.split("\n")[0] ?? "";
  const alt = /<([a-z0-9-]+(?:\|[a-z0-9-]+)+)>/.exec(first);
  return { name: command.name, options: [...options].sort(), words: alt ? alt[1]!.split("|") : [] };
}

const SHELL_WORD = /^[A-Za-z0-9_.|-]+$/;

function shellWords(words: readonly string[]): string {
  for (const w of words) if (!SHELL_WORD.test(w)) throw new Error(`not a plain word for the completion script: ${w}`);
  return words.join(" ");
}

/** A bash completion script for `secarc` (installed as /usr/share/bash-completion/completions/secarc). */
export function bashCompletion(commands: readonly Command[]): string {
  const cases = commands.map((c) => {
    const w = commandWords(c);
    return `    ${c.name}) words="${shellWords([...new Set([...w.words, ...w.options, "--help"])])}" ;;`;
  });
  return `# bash completion for secarc (generated from the help texts; do not edit)
_secarc() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${shellWords(commands.map((c) => c.name))} --help --version" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join("\n")}
    *) words="" ;;
  esac
  case "$cur" in
    -*) COMPREPLY=( $(compgen -W "$words" -- "$cur") ) ;;
    *) COMPREPLY=( $(compgen -W "$words" -- "$cur") $(compgen -f -- "$cur") ) ;;
  esac
}
complete -o filenames -F _secarc secarc
`;
}

/** Escapes text for roff: backslashes, and a leading dot or quote on a line. */
export function roffEscape(text: string): string {
  return text
    .replaceAll("\\", "\\e")
    .replaceAll("-", "\\-")
    .split("\n")
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join("\n");
}

/** The secarc(1) man page, from the main help and each command's help. */
export function manPage(mainUsage: string, commands: readonly Command[], version: string, date: string): string {
  const parts = [
    `.TH SECARC 1 "${date}" "secarc ${version}" "SecARC"`,
    ".SH NAME",
    "secarc \\- security alerts from Linux servers to Telegram, answered with one tap",
    ".SH SYNOPSIS",
    ".B secarc",
    ".I command",
    "[options]",
    ".SH DESCRIPTION",
    ".nf",
    roffEscape(mainUsage.trimEnd()),
    ".fi",
    ".SH COMMANDS",
  ];
  for (const c of commands) {
    parts.push(`.SS ${c.name}`, ".nf", roffEscape(c.usage.trimEnd()), ".fi");
  }
  parts.push(
    ".SH FILES",
    ".TP",
    ".I /etc/secarc/controller.yaml, /etc/secarc/agent.yaml",
    "configuration (see the comments in each)",
    ".TP",
    ".I /etc/secarc/pki/",
    "certificates and keys made by secarc certs",
    ".TP",
    ".I /var/lib/secarc/controller/, /var/lib/secarc/agent/",
    "state of the controller (SQLite store) and of the agent (outbox, journal, blocks)",
    ".SH SEE ALSO",
    "systemctl(1), journalctl(1), nft(8); /usr/share/doc/secarc/",
    "",
  );
  return parts.join("\n");
}
