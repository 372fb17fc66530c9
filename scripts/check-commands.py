#!/usr/bin/env python3
"""Every external command that scripts/, the Makefile's recipes and the Swift
tests run must be installed by the install profile that runs it
(scripts/install-deps.sh). Run through scripts/check-commands.sh.

Commands are found statically: the first word of each simple command in the
shell scripts and recipes (through wrappers such as env, timeout, `ip netns
exec NS` and functions that run "$@"), the program literal of each argv the
tests spawn, and literal program paths (/usr/bin/x, /usr/lib/cni/x). Each is
resolved on this machine to the Debian package that owns it (dpkg -S). That
package must be named in the profile's list, or be Essential/required
(present on every Debian install); a dependency of a listed package is not
enough. The Swift toolchain is provided by the machine, so it is allowed.
"""
import bisect
import glob
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Which profile installs what runs each file (besides what the Makefile
# says: every script a target runs is also checked against that target's
# profile). Files no target runs are mapped here by hand.
MAPPING = [
    ("scripts/demo.sh", ["demo"]),
    ("scripts/build-cni.sh", ["demo", "build"]),  # make release, which the demo uses
    ("scripts/bench.sh", ["bench"]),
    ("scripts/bench/*.sh", ["bench"]),
    ("Sources/bench-*/**/*.swift", ["bench"]),  # the programs scripts/bench/*.sh run
    ("scripts/fuzz.sh", ["test"]),
    ("scripts/capture-bgp-vectors.sh", ["test"]),  # run by hand; needs bird2, gobgpd, tcpdump, tshark
    ("Tests/**/*.swift", ["test"]),
]

BUILTINS = set(""". : [ alias bg bind break builtin caller cd command compgen complete compopt
continue declare dirs disown echo enable eval exec exit export false fc fg getopts hash help
history jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly return
set shift shopt source suspend test times trap true type typeset ulimit umask unalias unset
wait""".split())
# Keywords that may precede a command in command position.
PREFIX_WORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "time"}
ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
PROGRAM_PATH = re.compile(r"(?<![\w./-])(?:/usr/lib/cni/[\w.+-]+|(?:/usr)?/s?bin/[\w.+-]+)")
# Swift: the calls whose array argument is an argv, per source tree.
# Tests: Command.run/check (TestSupport/Command.swift) and TestNamespace's
# run/check (TestNetwork.swift, inside `ip netns exec`). Bench programs:
# bench-policy's spawn/start/peakRSSMiB, the `then:` argv of its nftFile,
# and its shell helpers sh/shOut.
SWIFT_RUNNERS = {
    "Tests/": ({"run", "check"}, set(), set()),
    "Sources/": ({"spawn", "start", "peakRSSMiB"}, {"then"}, {"sh", "shOut"}),
}


class Word:
    def __init__(self, raw, value, line, subs=(), tail="", dollar_at=False):
        self.raw, self.value, self.line = raw, value, line  # value: None when it holds an expansion
        self.subs, self.tail, self.dollar_at = list(subs), tail, dollar_at


class Tok:
    def __init__(self, kind, v):
        self.kind, self.v = kind, v  # kind: word (v: Word), op, redir, subs (v: token lists)


class SimpleCommand:
    def __init__(self, words, func):
        self.words, self.func = words, func


# ---- shell ---------------------------------------------------------------

OP = re.compile(r"\d*(?:<<<|<<-|<<|>>|<&|>&|<>|>\||&>>|&>|<|>)|\|\||\|&|\||&&|&|;;&|;;|;&|;|\(|\)")


class ShellLexer:
    """Enough of bash's grammar to find command words: quotes, expansions,
    command and process substitutions, heredocs (quoted bodies skipped,
    unquoted ones only for their substitutions), comments."""

    def __init__(self, text, first_line=1):
        self.s, self.n, self.pending = text, len(text), []
        self.first_line = first_line
        self.newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line(self, pos):
        return self.first_line + bisect.bisect_left(self.newlines, pos)

    def tokens(self, i=0, end=None):
        s, toks, depth = self.s, [], 0
        while i < self.n:
            c = s[i]
            if c == "\n":
                toks.append(Tok("op", "\n"))
                i += 1
                if self.pending:
                    i = self.heredocs(i, toks)
            elif c in " \t":
                i += 1
            elif s.startswith("\\\n", i):
                i += 2
            elif c == "#":
                j = s.find("\n", i)
                i = self.n if j < 0 else j
            elif c == end and (c == "`" or depth == 0):
                return toks, i + 1
            elif c in "<>" and s.startswith("(", i + 1):  # process substitution
                line = self.line(i)
                sub, i = self.tokens(i + 2, ")")
                toks.append(Tok("word", Word("", None, line, [sub])))
            elif s.startswith("((", i):  # arithmetic command
                i = self.balanced(i)
            elif m := OP.match(s, i):
                op, i = m.group(0), m.end()
                depth += op == "("
                depth -= op == ")"
                if op.lstrip("0123456789") in ("<<", "<<-"):
                    while i < self.n and s[i] in " \t":
                        i += 1
                    w, i = self.word(i, end)
                    delim = re.sub(r"[\"'\\]", "", w.raw)
                    self.pending.append((delim, w.raw != delim, op.endswith("-")))
                elif "<" in op or ">" in op:
                    toks.append(Tok("redir", op))
                else:
                    toks.append(Tok("op", op))
            else:
                w, i = self.word(i, end)
                toks.append(Tok("word", w))
        return toks, i

    def balanced(self, i):
        """End of the parenthesised text starting at s[i] == '('."""
        depth = 0
        while i < self.n:
            c = self.s[i]
            if c in "'\"":
                j = self.s.find(c, i + 1)
                i = self.n if j < 0 else j
            depth += c == "("
            depth -= c == ")"
            i += 1
            if depth == 0:
                break
        return i

    def word(self, i, end):
        s, start, parts, subs = self.s, i, [], []
        state = {"static": True, "tail": ""}
        line = self.line(i)
        while i < self.n:
            c = s[i]
            if c == "(" and state["static"] and ASSIGN.fullmatch("".join(parts)):  # name=(array)
                j = self.balanced(i)
                parts.append(s[i:j])
                i = j
            elif c in " \t\n|&;()<>" or (c == "`" and end == "`"):
                break
            elif c == "\\":
                if not s.startswith("\\\n", i):
                    parts.append(s[i + 1 : i + 2])
                    state["tail"] += s[i + 1 : i + 2]
                i += 2
            elif c == "'":
                j = s.find("'", i + 1)
                j = self.n if j < 0 else j
                parts.append(s[i + 1 : j])
                state["tail"] += s[i + 1 : j]
                i = j + 1
            elif c == '"':
                i = self.dquote(i + 1, parts, subs, state)
            elif c in "$`":
                i = self.expansion(i, parts, subs, state)
            else:
                parts.append(c)
                state["tail"] += c
                i += 1
        raw = s[start:i]
        value = "".join(parts) if state["static"] else None
        return Word(raw, value, line, subs, state["tail"], raw in ('"$@"', "$@")), i

    def dquote(self, i, parts, subs, state):
        s = self.s
        while i < self.n and s[i] != '"':
            c = s[i]
            if c == "\\" and i + 1 < self.n and s[i + 1] in '$`"\\\n':
                if s[i + 1] != "\n":
                    parts.append(s[i + 1])
                    state["tail"] += s[i + 1]
                i += 2
            elif c in "$`":
                i = self.expansion(i, parts, subs, state)
            else:
                parts.append(c)
                state["tail"] += c
                i += 1
        return i + 1

    def expansion(self, i, parts, subs, state):
        """$..., `...` at s[i]; command substitutions go to subs."""
        s = self.s
        if s[i] == "`":
            sub, i = self.tokens(i + 1, "`")
            subs.append(sub)
        elif s.startswith("$((", i):
            i = self.balanced(i + 1)
        elif s.startswith("$(", i):
            sub, i = self.tokens(i + 2, ")")
            subs.append(sub)
        elif s.startswith("${", i):
            depth = 0
            while i < self.n:
                depth += s[i] == "{"
                depth -= s[i] == "}"
                i += 1
                if depth == 0:
                    break
        elif s.startswith("$'", i):  # ANSI-C string: a literal
            j = i + 2
            while j < self.n and s[j] != "'":
                j += 2 if s[j] == "\\" else 1
            parts.append(s[i + 2 : j])
            state["tail"] += s[i + 2 : j]
            return j + 1
        elif m := re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])").match(s, i):
            i = m.end()
        else:
            parts.append("$")
            state["tail"] += "$"
            return i + 1
        state["static"], state["tail"] = False, ""
        return i

    def heredocs(self, i, toks):
        pending, self.pending = self.pending, []
        s = self.s
        for delim, quoted, strip_tabs in pending:
            subs = []
            while i < self.n:
                j = s.find("\n", i)
                j = self.n if j < 0 else j
                text = s[i:j]
                if (text.lstrip("\t") if strip_tabs else text) == delim:
                    i = j + 1
                    break
                k = i
                while not quoted and k < j:  # unquoted bodies still run $(...)
                    if s[k] == "\\":
                        k += 2
                    elif s[k] in "$`":
                        k = self.expansion(k, [], subs, {"static": True, "tail": ""})
                        if k > j:  # a substitution over several lines
                            j = s.find("\n", k) if s.find("\n", k) >= 0 else self.n
                    else:
                        k += 1
                i = j + 1
            toks.append(Tok("subs", subs))
        return min(i, self.n)


def split_commands(toks, out, defined, outer_func=None):
    """Simple commands (words without redirections) of a token list, each
    tagged with the function whose body holds it."""
    cur, case, funcs, brace = [], [], [], 0
    pending_func = None

    def func():
        return funcs[-1][0] if funcs else outer_func

    def flush():
        if cur:
            out.append(SimpleCommand(list(cur), func()))
            cur.clear()

    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "subs":
            for sub in t.v:
                split_commands(sub, out, defined, func())
            i += 1
            continue
        if t.kind == "word":
            for sub in t.v.subs:
                split_commands(sub, out, defined, func())
        if t.kind == "redir":
            if i + 1 < len(toks) and toks[i + 1].kind == "word":
                for sub in toks[i + 1].v.subs:
                    split_commands(sub, out, defined, func())
                i += 1
            i += 1
            continue
        if case and case[-1] == "pattern":  # `a|b)` is not a pipeline
            if t.kind == "word" and t.v.value == "esac":
                case.pop()
            elif t.kind == "op" and t.v == ")":
                case[-1] = "body"
            i += 1
            continue
        if t.kind == "op":
            if t.v in (";;", ";&", ";;&"):
                flush()
                if case:
                    case[-1] = "pattern"
            elif t.v == "(" and len(cur) == 1 and i + 1 < len(toks) and toks[i + 1].v == ")":
                pending_func = cur[0].value
                defined.add(pending_func)
                cur.clear()
                i += 1
            else:
                flush()
            i += 1
            continue
        v = t.v.value
        if not cur:
            if v == "case":
                case.append("pattern")
                i += 3  # case WORD in
                continue
            if v == "esac" and case:
                case.pop()
            elif v == "{":
                brace += 1
                if pending_func:
                    funcs.append((pending_func, brace))
                    pending_func = None
            elif v == "}":
                if funcs and funcs[-1][1] == brace:
                    funcs.pop()
                brace -= 1
            elif v == "function" and i + 1 < len(toks):
                pending_func = (toks[i + 1].v.value or "").rstrip("()")
                defined.add(pending_func)
                i += 1
            elif v == "[[":
                while i < len(toks) and not (toks[i].kind == "word" and toks[i].v.value == "]]"):
                    i += 1
            elif v not in PREFIX_WORDS:
                cur.append(t.v)
            i += 1
            continue
        cur.append(t.v)
        i += 1
    flush()


def parse_shell(text, first_line=1):
    lexer = ShellLexer(text, first_line)
    toks, _ = lexer.tokens()
    cmds, defined = [], set()
    split_commands(toks, cmds, defined)
    return cmds, defined


def wrapped(name, words, i):
    """Index of the command a wrapper at words[i] runs, or None."""
    vals = [w.value for w in words]

    def options(j, with_arg=()):
        while j < len(words) and (vals[j] or "").startswith("-") and vals[j] != "--":
            j += 2 if vals[j] in with_arg else 1
        return j + 1 if j < len(words) and vals[j] == "--" else j

    base = os.path.basename(name)
    if base == "env":
        j = options(i + 1, ("-u", "-C", "-S"))
        while j < len(words) and ASSIGN.match(words[j].raw):
            j += 1
        return j
    if base == "timeout":
        return options(i + 1, ("-s", "-k")) + 1  # then the duration
    if base == "ip":
        return i + 4 if vals[i + 1 : i + 3] == ["netns", "exec"] else None
    if base == "nsenter":
        return vals.index("--", i) + 1 if "--" in vals[i:] else None
    if base == "time":
        return options(i + 1, ("-f", "-o"))
    args = {"nice": ("-n",), "sudo": ("-u", "-g", "-C", "-D"), "stdbuf": ("-i", "-o", "-e")}
    if base in ("setsid", "nohup", "nice", "sudo", "stdbuf"):
        return options(i + 1, args.get(base, ()))
    return None


def command_words(words, shell, funcs):
    """(word, index) of each external command a simple command runs (a
    wrapper and what it wraps), and whether it runs "$@"."""
    found, i, forced = [], 0, False
    while i < len(words):
        w = words[i]
        v = w.value
        if shell and not forced and ASSIGN.match(w.raw):
            i += 1
            continue
        if v is None:  # "$caracal", "$bin": the project's own programs
            return found, w.dollar_at
        if shell and not forced:
            if v in ("for", "select", "((", "coproc"):
                break
            if v in funcs:
                if funcs[v] is None:
                    break
                i += 1 + funcs[v]  # a wrapper: skip the arguments it shifts
                continue
            if v in BUILTINS:
                if v == "command":
                    i += 1
                    if i < len(words) and words[i].value in ("-v", "-V"):
                        break
                    forced = True
                    continue
                if v == "exec":
                    i += 1
                    continue
                break
        found.append((w, i))
        forced = False
        j = wrapped(v, words, i)
        if j is None:
            break
        i = j
    return found, False


def function_wrappers(cmds, defined, inherited):
    """name -> how many arguments it shifts before running "$@" (a wrapper
    such as demo.sh's in_ns), or None for a plain function."""
    funcs = dict(inherited)
    funcs.update({name: None for name in defined})
    for _ in range(len(defined) + 1):
        changed = False
        for name in defined:
            body = [c for c in cmds if c.func == name]
            if any(command_words(c.words, True, funcs)[1] for c in body):
                shifts = sum(int(c.words[1].value) if len(c.words) > 1 and (c.words[1].value or "").isdigit() else 1
                             for c in body if c.words[0].value == "shift")
            else:
                shifts = None
            if funcs[name] != shifts:
                funcs[name], changed = shifts, True
        if not changed:
            break
    return funcs


# ---- Swift ---------------------------------------------------------------

SWIFT_STRING = re.compile(r'(#*)("""|")')


def swift_string(s, i):
    """(text with each interpolation as $_, static?, end) of the literal at s[i]."""
    m = SWIFT_STRING.match(s, i)
    hashes, quote = m.group(1), m.group(2)
    close, escape = quote + hashes, "\\" + hashes
    text, static, j = [], True, m.end()
    while j < len(s) and not s.startswith(close, j):
        if s.startswith(escape, j):
            k = j + len(escape)
            if s.startswith("(", k):  # interpolation: skip to its ')'
                depth = 0
                while k < len(s):
                    if SWIFT_STRING.match(s, k):
                        k = swift_string(s, k)[2]
                        continue
                    depth += s[k] == "("
                    depth -= s[k] == ")"
                    k += 1
                    if depth == 0:
                        break
                text.append("$_")
                static, j = False, k
            else:
                text.append({"n": "\n", "t": "\t"}.get(s[k : k + 1], s[k : k + 1]))
                j = k + 1
        else:
            text.append(s[j])
            j += 1
    return "".join(text), static, j + len(close)


def swift_tokens(s):
    toks, i = [], 0
    while i < len(s):
        c = s[i]
        if c.isspace():
            i += 1
        elif s.startswith("//", i):
            j = s.find("\n", i)
            i = len(s) if j < 0 else j
        elif s.startswith("/*", i):
            j = s.find("*/", i + 2)
            i = len(s) if j < 0 else j + 2
        elif SWIFT_STRING.match(s, i):
            text, static, j = swift_string(s, i)
            toks.append(("str", (text, static), i))
            i = j
        elif c.isalpha() or c == "_":
            j = i
            while j < len(s) and (s[j].isalnum() or s[j] == "_"):
                j += 1
            toks.append(("id", s[i:j], i))
            i = j
        else:
            toks.append(("p", c, i))
            i += 1
    return toks


def swift_argv(toks, k, line):
    """Words of the array literal whose first element is toks[k]."""
    words, depth, elem = [], 0, []
    while k < len(toks):
        kind, v, _ = toks[k]
        if kind == "p" and v in "([{":
            depth += 1
        elif kind == "p" and v in ")]}":
            if depth == 0:
                break
            depth -= 1
        if kind == "p" and v == "," and depth == 0:
            words.append(elem)
            elem = []
        else:
            elem.append(toks[k])
        k += 1
    words.append(elem)
    out = []
    for elem in words:
        if len(elem) == 1 and elem[0][0] == "str":
            text, static = elem[0][1]
            out.append(Word(text, text if static else None, line(elem[0][2])))
        else:
            out.append(Word("", None, line(elem[0][2]) if elem else 0))
    return out


def swift_commands(text, path):
    """(argvs, shell snippets, program paths) the Swift source runs."""
    calls, labels, shell_calls = next(v for k, v in SWIFT_RUNNERS.items() if path.startswith(k))
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line(pos):
        return 1 + bisect.bisect_left(newlines, pos)

    toks = swift_tokens(text)

    def at(k, kind, v=None):
        return 0 <= k < len(toks) and toks[k][0] == kind and (v is None or toks[k][1] == v)

    # A local helper named like a runner that puts a program of its own
    # first (CLITests' run: caracal policy ARGS) takes arguments, not argv.
    local_args = set()
    for k in range(len(toks)):
        if at(k, "id", "func") and at(k + 1, "id") and toks[k + 1][1] in calls:
            j = k + 2
            while j < len(toks) and not at(j, "id", "func"):
                if at(j, "id") and toks[j][1] in calls and at(j + 1, "p", "(") and at(j + 2, "p", "["):
                    if not at(j + 3, "str"):
                        local_args.add(toks[k + 1][1])
                    break
                j += 1

    argvs, snippets, paths = [], [], []
    for k, (kind, v, pos) in enumerate(toks):
        if kind == "id" and v in calls and at(k + 1, "p", "(") and at(k + 2, "p", "["):
            if not (v in local_args and not at(k - 1, "p", ".")):
                argvs.append(swift_argv(toks, k + 3, line))
        elif kind == "id" and v in labels and at(k + 1, "p", ":") and at(k + 2, "p", "["):
            argvs.append(swift_argv(toks, k + 3, line))
        elif kind == "id" and v in shell_calls and at(k + 1, "p", "(") and at(k + 2, "str"):
            snippets.append((toks[k + 2][1][0], line(toks[k + 2][2])))
        elif kind == "id" and v == "fileURLWithPath" and at(k + 1, "p", ":") and at(k + 2, "str"):
            if at(k - 4, "id", "executableURL"):
                paths.append((toks[k + 2][1][0], line(toks[k + 2][2])))
        elif kind == "str" and v[1] and PROGRAM_PATH.fullmatch(v[0]):
            paths.append((v[0], line(pos)))
    return argvs, snippets, paths


# ---- what runs what ------------------------------------------------------


class Checker:
    def __init__(self):
        self.lists = {}  # profile -> packages
        self.uses = []  # (file, line, command, profile label, packages)
        self.problems = []
        self.queue, self.seen = [], set()
        self.checked_files = set()
        self.parsed = {}

    def packages(self, profiles):
        pkgs = set()
        for p in profiles:
            if p not in self.lists:
                out = subprocess.run(["bash", os.path.join(ROOT, "scripts/install-deps.sh"), "--list", p],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"check-commands: install-deps.sh --list {p}: {out.stderr.strip()}")
                self.lists[p] = set(out.stdout.split())
            pkgs |= self.lists[p]
        return frozenset(pkgs)

    def profile(self, profiles, via=""):
        """(label, packages) for the union of profiles."""
        pkgs = self.packages(profiles)
        shown = sorted(p for p in profiles if not any(self.lists[p] < self.lists[q] for q in profiles))
        label = "+".join(shown) if shown else "none (nothing installed yet)"
        return (label + (f" ({via})" if via else ""), pkgs)

    def enqueue(self, path, prof):
        key = (path, prof[1])
        if key not in self.seen:
            self.seen.add(key)
            self.queue.append((path, prof))

    def run(self):
        self.makefile()
        for pattern, profiles in MAPPING:
            for f in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
                for p in profiles:
                    self.enqueue(os.path.relpath(f, ROOT), self.profile([p]))
        while self.queue:
            path, prof = self.queue.pop(0)
            self.checked_files.add(path)
            if path.endswith(".swift"):
                self.swift_file(path, prof)
            else:
                self.shell_file(path, prof)
        for f in glob.glob(os.path.join(ROOT, "scripts/**/*.sh"), recursive=True):
            rel = os.path.relpath(f, ROOT)
            if rel not in self.checked_files:
                self.problems.append(f"{rel}: no make target runs it and MAPPING in scripts/check-commands.py gives it no profile")

    # Each Makefile target: its recipe and what it runs are checked against
    # the profiles its prerequisites install (deps, deps-test, ...).
    def makefile(self):
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        db = subprocess.run(["make", "-pqrR", "--no-print-directory", "-f", "Makefile",
                             "--eval=__check_commands__:", "__check_commands__"],
                            cwd=ROOT, capture_output=True, text=True, env=env).stdout
        self.targets = {}  # name -> (prerequisites, first line, recipe lines)
        files = db.split("\n# Files\n", 1)[-1]
        for block in files.split("\n\n"):
            lines = [l for l in block.split("\n") if l]
            if not lines or lines[0] == "# Not a target:":
                continue
            m = re.match(r"([^#\s:][^:]*):(?!=)\s*(.*)", lines[0])
            r = next((re.search(r"from 'Makefile', line (\d+)", l) for l in lines if "recipe to execute" in l), None)
            if not m or m.group(1).startswith("."):
                continue
            recipe = [l[1:] for l in lines if l.startswith("\t")]
            prereqs = m.group(2).replace("|", " ").split()
            self.targets[m.group(1)] = (prereqs, int(r.group(1)) if r else 0, recipe)

        def closure(t, acc):
            for p in self.targets.get(t, ((), 0, ()))[0]:
                if p not in acc:
                    acc.add(p)
                    closure(p, acc)
            return acc

        def installs(t):
            recipe = "\n".join(self.targets.get(t, ((), 0, ()))[2])
            return re.findall(r"scripts/install-deps\.sh\s+(\w+)", recipe)

        self.make_profiles = {t: sorted({p for d in closure(t, set()) for p in installs(d)}) for t in self.targets}
        for t in sorted(self.targets):
            self.recipe(t, self.make_profiles[t], f"make {t}", set())

    def recipe(self, target, profiles, via, stack):
        prereqs, first, lines = self.targets[target]
        if not lines or target in stack:
            return
        prof = self.profile(profiles, via)
        text, logical_start = [], True
        for l in lines:
            text.append(l.lstrip("@+-") if logical_start else l)
            logical_start = not l.endswith("\\")
        sh = make_expand("\n".join(text))
        for cmd in self.shell_text(sh, "Makefile", first, prof):
            w = [x.value for x in cmd.words]
            if w and w[0] == "make":  # $(MAKE) TARGET runs with this target's packages
                for sub in w[1:]:
                    if sub in self.targets:
                        subs = sorted(set(profiles) | set(self.make_profiles[sub]))
                        self.recipe(sub, subs, f"{via} → {sub}", stack | {target})

    def shell_file(self, path, prof):
        text = open(os.path.join(ROOT, path)).read()
        if text.startswith("#!"):  # the interpreter runs too
            words = [Word(x, x, 1) for x in text.split("\n", 1)[0][2:].split()]
            self.record_argv(words, path, prof, shell=False)
        self.shell_text(text, path, 1, prof)

    def shell_text(self, text, path, first_line, prof):
        cmds, defined = parse_shell(text, first_line)
        inherited = {}
        for c in cmds:  # functions of sourced files
            if c.words[0].value in ("source", ".") and len(c.words) > 1:
                lib = self.project_file(c.words[1], path)
                if lib:
                    self.enqueue(lib, prof)
                    lib_cmds, lib_defined = self.parse_file(lib)
                    inherited.update(function_wrappers(lib_cmds, lib_defined, {}))
        funcs = function_wrappers(cmds, defined, inherited)
        assigned = {}
        for c in cmds:
            for w in c.words:
                m = ASSIGN.match(w.raw)
                if m and w.value is not None and "/" in w.value:
                    assigned[m.group(0).rstrip("+=")] = w.value[m.end():]
            self.record_argv(c.words, path, prof, True, funcs)
            self.literal_paths(c.words, assigned, path, prof)
        return cmds

    def parse_file(self, path):
        if path not in self.parsed:
            self.parsed[path] = parse_shell(open(os.path.join(ROOT, path)).read())
        return self.parsed[path]

    def project_file(self, word, from_path):
        """The repository file a word names: a literal path (from the root,
        where the scripts cd, or the script's directory), or the literal
        tail of an expanded one ("$root/scripts/bench/lib.sh")."""
        here = os.path.dirname(os.path.join(ROOT, from_path))
        if word.value is not None:
            rel, bases = word.value, ((ROOT, here) if not word.value.startswith("/") else ("/",))
        elif word.tail.startswith("/"):
            rel, bases = word.tail, (here, ROOT)
        else:
            return None
        for base in bases:
            cand = os.path.normpath(os.path.join(base, rel.lstrip("/")))
            if os.path.isfile(cand) and cand.startswith(ROOT + "/"):
                return os.path.relpath(cand, ROOT)
        return None

    def record_argv(self, words, path, prof, shell, funcs=None):
        for w, idx in command_words(words, shell, funcs or {})[0]:
            name = w.value
            if "/" in name and not name.startswith("/"):  # a project script: check it with this profile
                target = self.project_file(w, path)
                if target:
                    self.enqueue(target, prof)
                else:
                    self.problems.append(f"{path}:{w.line}: {name}: no such file in the repository")
                continue
            self.uses.append((path, w.line, name, prof))
            base = os.path.basename(name)
            rest = [x.value for x in words[idx + 1 :]]
            if base == "swift" and rest[:1] == ["test"]:  # the Swift tests run with this profile
                for f in sorted(glob.glob(os.path.join(ROOT, "Tests/**/*.swift"), recursive=True)):
                    self.enqueue(os.path.relpath(f, ROOT), prof)
            if base in ("sh", "bash", "dash") and len(rest) > 1 and rest[0] == "-c":
                # A shell word must be literal; a Swift literal keeps $_ for each interpolation.
                arg = words[idx + 2]
                snippet = arg.value if arg.value is not None or shell else arg.raw
                if snippet:
                    self.shell_text(snippet, path, w.line, prof)

    def literal_paths(self, words, assigned, path, prof):
        """Programs named by path in arguments, e.g. "$ref_dir/ptp" with ref_dir=/usr/lib/cni."""
        for w in words:
            raw = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: assigned.get(m.group(1), m.group(0)), w.raw)
            for p in PROGRAM_PATH.findall(raw.replace('"', "").replace("'", "")):
                self.uses.append((path, w.line, p, prof))

    def swift_file(self, path, prof):
        argvs, snippets, paths = swift_commands(open(os.path.join(ROOT, path)).read(), path)
        for argv in argvs:
            self.record_argv(argv, path, prof, shell=False)
        for text, line in snippets:
            self.shell_text(text, path, line, prof)
        for p, line in paths:
            self.uses.append((path, line, p, prof))


def make_expand(text):
    """Recipe text as the shell sees it: $$ is $, $(SWIFT)/$(MAKE) are the
    programs, other make variables become a shell variable."""
    known = {"SWIFT": "swift", "MAKE": "make"}
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            d = text[i + 1]
            if d == "$":
                out.append("$")
                i += 2
                continue
            if d in "({":
                close, depth, j = ")" if d == "(" else "}", 1, i + 2
                while j < len(text) and depth:
                    depth += text[j] == d
                    depth -= text[j] == close
                    j += 1
                out.append(known.get(text[i + 2 : j - 1], "$MAKEVAR"))
                i = j
                continue
            out.append("$MAKEVAR")
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


# ---- resolving to packages -----------------------------------------------

DEBIAN_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def locate(name):
    """Path of a command as a fresh Debian install's root would find it."""
    if name.startswith("/"):
        return name if os.path.exists(name) else None
    for d in DEBIAN_DIRS:
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def hops(path):
    """The path, each symlink it goes through (alternatives), and its target,
    each also under the other side of the /usr merge (/bin/x and /usr/bin/x)."""
    seen = []
    for _ in range(10):
        seen.append(path)
        if not os.path.islink(path):
            break
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    seen.append(os.path.realpath(seen[-1]))
    out = []
    for p in seen:
        for v in (p, re.sub(r"^/usr/(s?bin)/", r"/\1/", p), re.sub(r"^/(s?bin)/", r"/usr/\1/", p)):
            if v not in out:
                out.append(v)
    return out


def dpkg_owners(paths):
    if not paths:
        return {}
    out = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True).stdout
    owners = {}
    for line in out.splitlines():
        if line.startswith("diversion by"):
            continue
        pkgs, _, path = line.partition(": ")
        owners.setdefault(path, []).extend(p.strip().split(":")[0] for p in pkgs.split(","))
    return owners


def everywhere(pkgs):
    """Packages that every Debian install has (Essential: yes or Priority: required)."""
    if not pkgs:
        return set()
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Essential}\t${Priority}\n", *pkgs],
                         capture_output=True, text=True).stdout
    return {f[0] for f in (l.split("\t") for l in out.splitlines()) if len(f) == 3 and (f[1] == "yes" or f[2] == "required")}


def main():
    os.chdir(ROOT)
    c = Checker()
    c.run()
    swift = shutil.which("swift")
    toolchain = os.path.dirname(os.path.dirname(os.path.realpath(swift))) + "/" if swift else None
    names = sorted({u[2] for u in c.uses})
    located = {n: locate(n) for n in names}
    chains = {n: hops(p) for n, p in located.items() if p}
    owners = dpkg_owners(sorted({h for ch in chains.values() for h in ch}))
    owned = {n: [o for h in ch for o in owners.get(h, [])] for n, ch in chains.items()}
    base = everywhere(sorted({o for pkgs in owned.values() for o in pkgs}))
    reported = set()
    for path, line, name, (label, pkgs) in c.uses:
        where = located.get(name)
        mine = owned.get(name, [])
        if "-v" in sys.argv[1:]:  # every use: what was found, where it resolves
            print(f"{path}:{line}: {name} -> {where} ({', '.join(dict.fromkeys(mine)) or '-'}) [{label}]")
        if any(o in pkgs or o in base for o in mine):
            continue
        if os.path.basename(name) == "swift" or (where and not mine and toolchain and os.path.realpath(where).startswith(toolchain)):
            continue  # the Swift toolchain the machine provides
        if not where:
            why = f"not installed (profile {label})"
        elif not mine:
            why = f"{where} comes from no Debian package (profile {label})"
        else:
            why = f"owned by {mine[0]}, which profile {label} does not list"
        key = (path, line, name, pkgs)
        if key not in reported:
            reported.add(key)
            c.problems.append(f"{path}:{line}: {name}: {why}")
    if c.problems:
        print("\n".join(c.problems))
        print(f"check-commands: {len(c.problems)} problem(s); add the package to the profile in scripts/install-deps.sh", file=sys.stderr)
        return 1
    files = {u[0] for u in c.uses}
    print(f"check-commands: {len(names)} commands at {len({(u[0], u[1], u[2]) for u in c.uses})} call sites in {len(files)} files "
          f"are each installed by the profile that runs them or part of every Debian install")
    return 0


if __name__ == "__main__":
    sys.exit(main())
