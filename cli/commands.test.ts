import { expect } from "chai";
import { COMMANDS, findCommand } from "./commands.js";
import { bashCompletion, commandWords, loadAllCommands, manPage, roffEscape } from "./help-docs.js";
import { mainUsage } from "./secarc.js";
import { versionText } from "./build-info.js";

describe("secarc command table", function () {
  this.timeout(30_000);

  it("each line's name and summary equal those of the module it loads", async () => {
    const loaded = await loadAllCommands();
    expect(loaded.map((c) => [c.name, c.summary])).to.deep.equal(COMMANDS.map((c) => [c.name, c.summary]));
    for (const c of loaded) expect(c.usage).to.match(new RegExp(`^Usage: secarc ${c.name}\\b`));
  });

  it("names are unique and findCommand finds only them", () => {
    expect(new Set(COMMANDS.map((c) => c.name)).size).to.equal(COMMANDS.length);
    expect(findCommand("replay")?.name).to.equal("replay");
    expect(findCommand("frobnicate")).to.equal(undefined);
  });

  it("completion words come from the usage text: options and <a|b> sub-commands", () => {
    const words = commandWords({
      name: "certs",
      summary: "",
      usage: "Usage: secarc certs <init|issue> [options]\n\nOptions:\n  -d, --dir DIR   where\n      --force     overwrite\n  not --an-option here\n",
      run: async () => 0,
    });
    expect(words.words).to.deep.equal(["init", "issue"]);
    expect(words.options).to.deep.equal(["--dir", "--force", "-d"]);
  });

  it("the bash completion lists every command with its options", async () => {
    const script = bashCompletion(await loadAllCommands());
    for (const c of COMMANDS) expect(script).to.match(new RegExp(`^    ${c.name}\\) words="`, "m"));
    expect(script).to.match(/^    certs\) words="init issue show revoke /m);
    expect(script).to.contain("complete -o filenames -F _secarc secarc");
  });

  it("the man page has every command's help, roff-escaped", async () => {
    const page = manPage(mainUsage(), await loadAllCommands(), "9.9.9", "2026-12-01");
    expect(page).to.match(/^\.TH SECARC 1 "2026-12-01" "secarc 9\.9\.9"/);
    for (const c of COMMANDS) expect(page).to.contain(`.SS ${c.name}\n`);
    expect(roffEscape(".x\n'y\na\\b-c")).to.equal("\\&.x\n\\&'y\na\\eb\\-c");
  });

  it("--version names the version, commit, Node and protocol package", () => {
    const text = versionText({ version: "1.2.3", commit: "abcdef123456", builtAt: "2026-12-01T00:00:00Z" });
    expect(text).to.match(/^secarc 1\.2\.3\n/);
    expect(text).to.contain("commit:   abcdef123456");
    expect(text).to.contain(`node:     ${process.version}`);
    expect(text).to.contain("protocol: secarc.v1");
  });
});
