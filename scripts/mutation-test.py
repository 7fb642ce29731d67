#!/usr/bin/env python3
"""Mutation testing for TTT Lab (issue 27, part 6): how many small faults does the test suite notice?

No mutation tool for Swift runs on Linux (muter is macOS-only; the language-independent PyPI tools are
unmaintained or LLM-driven), so this is a small one of our own. Each mutant is ONE textual change to ONE
line of a source file: a flipped sign or operator (+ ↔ −, += ↔ −=), an off-by-one bound (..< → ..., < → <=),
max ↔ min, a dropped term, or a gradient scaled by 1e-3. The mutants are listed below (`MUTANTS`), each with
the narrow test filter that should notice it (the tests of that source's module and layer).

For each mutant: apply it, build the tests into a separate scratch path (.build-mut, git-ignored), run
`swift test --filter <filter>`, restore the file (always: try/finally plus signal handlers, and a
check at start-up that no mutated file is left from an interrupted run). A mutant is KILLED when the tests
fail or time out, SURVIVED when they pass, INVALID when it does not compile (not counted).
Results are appended to results/mutation/results.jsonl keyed by the mutant's id and text, so a re-run
resumes where it stopped and re-tests only mutants whose text changed. `--report` writes docs/mutation.md.

Usage:
  scripts/mutation-test.sh                 # run every mutant not yet recorded, then write the report
  scripts/mutation-test.sh --list          # list the mutants
  scripts/mutation-test.sh --only ID ...   # (re)run some mutants
  scripts/mutation-test.sh --report        # only write docs/mutation.md from the recorded results
"""
import hashlib, json, os, re, signal, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results", "mutation", "results.jsonl")
BACKUP = os.path.join(ROOT, "results", "mutation", "backup")
SCRATCH = ".build-mut"
TIMEOUT = 600

# Test filters (XCTest regexes over "Target.Class/testMethod").
TTT_FUSED = "FusedTTTTests|FusedRegistryTests/testEveryLayerAndOptionFusedMatchesReference"
TTT_FAST = "FusedInferenceTTTTests|FusedRegistryTests/testEveryLayerAndOptionFusedDecodeMatchesPrefill"
TTT_LAYER = "TTTLayerTests|TTTPrePostTests|FusedTTTTests"
BASE_FUSED = "FusedBaselineTests|SelfAttentionTests|LinearAttentionTests|MambaTests|MambaScanKernelTests"
BASE_FAST = "FusedInferenceBaselineTests|SelfAttentionTests|LinearAttentionTests|MambaTests"

# (id, file, original line fragment (unique in the file), replacement, filter, kind)
MUTANTS = [
    # --- fused TTT training node (Sources/Layers/TTT/TTTTraining.swift) ---
    ("ttt-train-residual-target", "Sources/Layers/TTT/TTTFused.swift", "if residual { for x in 0..<d { tr[x] = vr[x] - kr[x] } }", "if residual { for x in 0..<d { tr[x] = vr[x] + kr[x] } }", TTT_FUSED, "flipped sign"),
    ("ttt-train-out-residual", "Sources/Layers/TTT/TTTFused.swift", "else if residual { for x in 0..<d { o[x] = qr[x] + zr[x] } }", "else if residual { for x in 0..<d { o[x] = zr[x] } }", TTT_FUSED, "dropped term"),
    ("ttt-train-gq-residual", "Sources/Layers/TTT/TTTTraining.swift", "if residual { let gqr = pgq + base + i * d; for x in 0..<d { gqr[x] += gyr[x] } }", "if residual { let gqr = pgq + base + i * d; for x in 0..<d { gqr[x] -= gyr[x] } }", TTT_FUSED, "flipped sign"),
    ("ttt-train-gk-residual", "Sources/Layers/TTT/TTTTraining.swift", "if residual { pgk[base + i] -= gt[i] }", "if residual { pgk[base + i] += gt[i] }", TTT_FUSED, "flipped sign"),
    ("ttt-train-gv", "Sources/Layers/TTT/TTTTraining.swift", "pgv[base + i] = gt[i]", "pgv[base + i] = 1e-3 * gt[i]", TTT_FUSED, "gradient ×1e-3"),
    ("ttt-train-gc-sum", "Sources/Layers/TTT/TTTTraining.swift", "for i in 0..<bEff { gc.data[i] += gcPer.p[bh * bEff + i] }", "for i in 1..<bEff { gc.data[i] += gcPer.p[bh * bEff + i] }", TTT_FUSED, "off-by-one"),
    ("ttt-train-gbeta", "Sources/Layers/TTT/TTTTraining.swift", "gBeta.data[hh * d + x] += gBetPer.p[bh * d + x] }", "gBeta.data[hh * d + x] += 1e-3 * gBetPer.p[bh * d + x] }", TTT_FUSED, "gradient ×1e-3"),
    ("ttt-train-gtheta", "Sources/Layers/TTT/TTTTraining.swift", "for i in 0..<n { dst[i] += src[i] }", "for i in 0..<n { dst[i] -= src[i] }", TTT_FUSED, "flipped sign"),
    ("ttt-train-mb-order", "Sources/Layers/TTT/TTTTraining.swift", "for (mi, (lo, hi)) in node.mbs.enumerated().reversed() {", "for (mi, (lo, hi)) in node.mbs.enumerated() {", TTT_FUSED, "wrong order (state carry)"),
    # --- fused inner kernels of the plugins ---
    ("linear-fused-1", "Plugins/TTTLinear/LinearInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("linear-fused-2", "Plugins/TTTLinear/LinearInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("linear-fused-3", "Plugins/TTTLinear/LinearInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("linear-fused-4", "Plugins/TTTLinear/LinearInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("linear-fused-5", "Plugins/TTTLinear/LinearInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("mlp-fused-1", "Plugins/TTTMLP/MLPInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("mlp-fused-2", "Plugins/TTTMLP/MLPInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("mlp-fused-3", "Plugins/TTTMLP/MLPInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("mlp-fused-4", "Plugins/TTTMLP/MLPInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("mlp-fused-5", "Plugins/TTTMLP/MLPInnerFused.swift", None, None, TTT_FUSED, "auto"),
    ("ttt-fused-shared-1", "Sources/Layers/TTT/FusedInnerModel.swift", None, None, TTT_FUSED, "auto"),
    ("ttt-fused-shared-2", "Sources/Layers/TTT/FusedInnerModel.swift", None, None, TTT_FUSED, "auto"),
    ("ttt-fused-shared-3", "Sources/Layers/TTT/FusedInnerModel.swift", None, None, TTT_FUSED, "auto"),
    ("linear-fast-1", "Plugins/TTTLinear/LinearInnerFusedForward.swift", None, None, TTT_FAST, "auto"),
    ("linear-fast-2", "Plugins/TTTLinear/LinearInnerFusedForward.swift", None, None, TTT_FAST, "auto"),
    ("mlp-fast-1", "Plugins/TTTMLP/MLPInnerFusedForward.swift", None, None, TTT_FAST, "auto"),
    ("mlp-fast-2", "Plugins/TTTMLP/MLPInnerFusedForward.swift", None, None, TTT_FAST, "auto"),
    ("ttt-fast-1", "Sources/Layers/TTT/TTTFused.swift", None, None, TTT_FAST, "auto"),
    ("ttt-fast-2", "Sources/Layers/TTT/TTTFused.swift", None, None, TTT_FAST, "auto"),
    # --- fused baselines ---
    ("attn-train-1", "Sources/Layers/Attention/AttentionTraining.swift", None, None, BASE_FUSED, "auto"),
    ("attn-train-2", "Sources/Layers/Attention/AttentionTraining.swift", None, None, BASE_FUSED, "auto"),
    ("attn-train-3", "Sources/Layers/Attention/AttentionTraining.swift", None, None, BASE_FUSED, "auto"),
    ("attn-train-4", "Sources/Layers/Attention/AttentionTraining.swift", None, None, BASE_FUSED, "auto"),
    ("attn-fast-1", "Sources/Layers/Attention/AttentionFused.swift", None, None, BASE_FAST, "auto"),
    ("attn-fast-2", "Sources/Layers/Attention/AttentionFused.swift", None, None, BASE_FAST, "auto"),
    ("attn-fast-3", "Sources/Layers/Attention/AttentionFused.swift", None, None, BASE_FAST, "auto"),
    ("la-train-1", "Sources/Layers/LinearAttention/LinearAttentionTraining.swift", None, None, BASE_FUSED, "auto"),
    ("la-train-2", "Sources/Layers/LinearAttention/LinearAttentionTraining.swift", None, None, BASE_FUSED, "auto"),
    ("la-train-3", "Sources/Layers/LinearAttention/LinearAttentionTraining.swift", None, None, BASE_FUSED, "auto"),
    ("la-fast-1", "Sources/Layers/LinearAttention/LinearAttentionFused.swift", None, None, BASE_FAST, "auto"),
    ("la-fast-2", "Sources/Layers/LinearAttention/LinearAttentionFused.swift", None, None, BASE_FAST, "auto"),
    ("mamba-train-1", "Sources/Layers/Mamba/MambaTraining.swift", None, None, BASE_FUSED, "auto"),
    ("mamba-train-2", "Sources/Layers/Mamba/MambaTraining.swift", None, None, BASE_FUSED, "auto"),
    ("mamba-train-3", "Sources/Layers/Mamba/MambaTraining.swift", None, None, BASE_FUSED, "auto"),
    ("mamba-train-4", "Sources/Layers/Mamba/MambaTraining.swift", None, None, BASE_FUSED, "auto"),
    ("mamba-fast-1", "Sources/Layers/Mamba/MambaFused.swift", None, None, BASE_FAST, "auto"),
    ("mamba-fast-2", "Sources/Layers/Mamba/MambaFused.swift", None, None, BASE_FAST, "auto"),
    # --- reference ops (TensorCore) ---
    ("op-unary-1", "Sources/TensorCore/Ops/Unary.swift", None, None, "UnaryTests", "auto"),
    ("op-unary-2", "Sources/TensorCore/Ops/Unary.swift", None, None, "UnaryTests", "auto"),
    ("op-unary-3", "Sources/TensorCore/Ops/Unary.swift", None, None, "UnaryTests", "auto"),
    ("op-unary-4", "Sources/TensorCore/Ops/Unary.swift", None, None, "UnaryTests", "auto"),
    ("op-norm-1", "Sources/TensorCore/Ops/Norm.swift", None, None, "NormTests|RowSIMDTests", "auto"),
    ("op-norm-2", "Sources/TensorCore/Ops/Norm.swift", None, None, "NormTests|RowSIMDTests", "auto"),
    ("op-norm-3", "Sources/TensorCore/Ops/Norm.swift", None, None, "NormTests|RowSIMDTests", "auto"),
    ("op-softmax-1", "Sources/TensorCore/Ops/Softmax.swift", None, None, "SoftmaxTests", "auto"),
    ("op-softmax-2", "Sources/TensorCore/Ops/Softmax.swift", None, None, "SoftmaxTests", "auto"),
    ("op-softmax-3", "Sources/TensorCore/Ops/Softmax.swift", None, None, "SoftmaxTests", "auto"),
    ("op-rope-1", "Sources/TensorCore/Ops/Rope.swift", None, None, "RopeTests|FusedInferenceTTTTests", "auto"),
    ("op-rope-2", "Sources/TensorCore/Ops/Rope.swift", None, None, "RopeTests|FusedInferenceTTTTests", "auto"),
    ("op-conv-1", "Sources/TensorCore/Ops/Conv.swift", None, None, "ConvTests", "auto"),
    ("op-conv-2", "Sources/TensorCore/Ops/Conv.swift", None, None, "ConvTests", "auto"),
    ("op-scan-1", "Sources/TensorCore/Ops/Scan.swift", None, None, "ScanTests", "auto"),
    ("op-scan-2", "Sources/TensorCore/Ops/Scan.swift", None, None, "ScanTests", "auto"),
    ("op-reduce-1", "Sources/TensorCore/Ops/Reduce.swift", None, None, "ReduceTests", "auto"),
    ("op-reduce-2", "Sources/TensorCore/Ops/Reduce.swift", None, None, "ReduceTests", "auto"),
    ("op-binary-1", "Sources/TensorCore/Ops/Binary.swift", None, None, "BinaryTests|BroadcastTests", "auto"),
    ("op-binary-2", "Sources/TensorCore/Ops/Binary.swift", None, None, "BinaryTests|BroadcastTests", "auto"),
    # --- TTT layer pre/post stages (Sources/Layers/TTT/TTTLayer.swift) ---
    ("ttt-pre-eta-bias", "Sources/Layers/TTT/TTTLayer.swift", "let s = (matmul(h, lrWeight) + lrBias).sigmoid()", "let s = (matmul(h, lrWeight) - lrBias).sigmoid()", TTT_LAYER, "flipped sign (η gate)"),
    ("ttt-pre-eta-scale", "Sources/Layers/TTT/TTTLayer.swift", "* (baseLR * lrMult / Float(d))", "* (baseLR * lrMult / Float(d + 1))", TTT_LAYER, "off-by-one (η_base/d)"),
    ("ttt-pre-token-scale", "Sources/Layers/TTT/TTTLayer.swift", "let inv = Tensor((1...b).map { 1 / Float($0) }, shape: [b])", "let inv = Tensor((1...b).map { 1 / Float($0 + 1) }, shape: [b])", TTT_LAYER, "off-by-one (c_i = 1/i)"),
    ("ttt-pre-token-idx", "Sources/Layers/TTT/TTTLayer.swift", "return (inv + tokenIdx).relu()", "return (inv - tokenIdx).relu()", TTT_LAYER, "flipped sign (learnable c)"),
    ("ttt-pre-rope-pos", "Sources/Layers/TTT/TTTLayer.swift", "let pos = (0..<T).map { (start + $0) % b }", "let pos = (0..<T).map { start + $0 }", TTT_LAYER, "RoPE not restarted per mini-batch"),
    ("ttt-pre-conv-k", "Sources/Layers/TTT/TTTLayer.swift", "k = causalConv1d(full, weight: convK.w, bias: convK.b)", "k = causalConv1d(full, weight: convK.w, bias: convQ.b)", TTT_LAYER, "wrong term (conv bias)"),
    ("ttt-post-norm", "Sources/Layers/TTT/TTTLayer.swift", "if opts.postNorm { o = o.layerNorm(gamma: postGamma, beta: postBeta) }", "if opts.postNorm { o = o.layerNorm(gamma: postGamma, beta: postBeta * 1e-3) }", TTT_LAYER, "term ×1e-3 (post-norm β)"),
    ("ttt-post-gate", "Sources/Layers/TTT/TTTLayer.swift", "if let wg { o = matmul(h, wg).fastGelu() * o }", "if let wg { o = matmul(h, wg).fastGelu() * o + o }", TTT_LAYER, "added term (gate)"),
    ("ttt-post-residual", "Sources/Layers/TTT/TTTLayer.swift", "return opts.innerResidual ? q + y : y", "return opts.innerResidual ? q - y : y", TTT_LAYER, "flipped sign (inner residual)"),
    ("ttt-pre-minibatch", "Sources/Layers/TTT/TTTLayer.swift", "while lo < t { let hi = min(t, lo + b - (start + lo) % b); r.append((lo, hi)); lo = hi }", "while lo < t { let hi = min(t, lo + b + 1 - (start + lo) % b); r.append((lo, hi)); lo = hi }", TTT_LAYER, "off-by-one (mini-batch bound)"),
]

# Why a surviving mutant is equivalent (same results), or what it would take to kill it.
NOTES = {
    "mlp-fused-2": "equivalent: the extra write x2[nh] = z1[nh] lands on gp[0] (the next scratch region), which geluAndPrime overwrites right after",
    "mlp-fused-3": "equivalent: the extra write xq2[nh] lands on gxq2[0], which the backward zeroes before use",
    "linear-fast-1": "equivalent: the extra write dst[d] lands on the next row's first entry (written in the next iteration) or, for the last row, on unused scratch",
    "mlp-fast-1": "equivalent: the extra d1[h] *= gp[h] touches xq[0], which the following sgemm (β = 0) overwrites",
    "attn-fast-3": "equivalent in results: the KV cache's geometric `reserveCapacity` is skipped; Swift arrays still grow on append (only the growth policy, a speed matter, changes)",
    "la-train-3": "equivalent for the library: it flips the sign of the test-only `perturbBackward` constant (never non-zero outside tests); the negative control it serves fails either way",
    "mamba-train-1": "reads B before its buffer for the first sequence (an out-of-bounds read): survived the first run, killed on the re-run by FusedBaselineTests.testFusedGradientsDeterministic — garbage memory makes the outcome run-dependent",
    "op-binary-1": "NOT equivalent: one write past the end of the output's heap buffer (`0...out.count`); invisible to the tests because the allocator leaves slack — only an address sanitizer (`swift test --sanitize=address`) would see it",
}

# Operator rules for the "auto" mutants, tried in this order on a candidate line (first occurrence).
RULES = [("+=", "-=", "flipped sign"), ("-=", "+=", "flipped sign"), (" + ", " - ", "flipped sign"),
         (" - ", " + ", "flipped sign"), ("..<", "...", "off-by-one"), (" < ", " <= ", "off-by-one"),
         ("max(", "min(", "max ↔ min")]
SKIP = ("precondition", "\"", "FLOPCounter", "print(", "guard ", "Tensor(zeros", "Tensor(uninitialized", "FastBuffer(",
        "Parallel.", ".dim(", ".shape", "static var", "public static", "withExtendedLifetime", "scratch", "Scratch", "func ",
        "assert", "fatalError", "case ", "count:", "let (", "ld:", "stride")
NUMERIC = ("data[", ".p[", "exp", "squareRoot", "sqrt", "+=", "-=", " * ", "load", "store", "[x]", "[i]", "[j]")


POINTER = re.compile(r"\b(p[a-zA-Z]\w*|pq|pk|pv|pz|base|rowBase|\w+\.p|tgt|etab|tmp|gzb|gt|buf|src|dst|ag|hist\.data|parts\.p|S|s)\s*$")


def top_level(code, op):
    """Index of the first occurrence of `op` outside [...] whose left operand is not a pointer, or None."""
    depth, i = 0, 0
    while i < len(code):
        ch = code[i]
        if ch == "[": depth += 1
        elif ch == "]": depth -= 1
        elif depth == 0 and code.startswith(op, i) and not (op.strip() in "+-" and POINTER.search(code[:i])):
            return i
        i += 1
    return None


def candidates(path):
    """Lines of `path` that compute numbers (see NUMERIC/SKIP), with the rule that applies to each."""
    out = []
    with open(os.path.join(ROOT, path)) as f:
        lines = f.read().split("\n")
    for n, raw in enumerate(lines):
        code = raw.split("//")[0]
        s = code.strip()
        if not s or s.startswith("///") or any(k in code for k in SKIP) or not any(k in code for k in NUMERIC):
            continue
        hit = None
        for old, new, kind in RULES:
            at = top_level(code, old)
            if at is not None:
                hit = (n, raw, raw[:at] + new + raw[at + len(old):], kind)
                break
        if hit:
            out.append(hit)
    return out


def resolve():
    """Concrete mutants: the listed ones, and the auto ones spread evenly over each file's candidates."""
    per_file = {}
    for m in MUTANTS:
        if m[2] is None:
            per_file.setdefault(m[1], []).append(m)
    auto = {}
    for path, ms in per_file.items():
        c = candidates(path)
        if not c:
            continue
        k = min(len(ms), len(c))
        picks = [c[(2 * i + 1) * len(c) // (2 * k)] for i in range(k)]   # evenly spaced, mid-interval
        picks = list({p[0]: p for p in picks}.values())                  # one mutant per line
        for m, (n, raw, new, kind) in zip(ms, picks):
            auto[m[0]] = (n, raw, new, kind)
    out = []
    for mid, path, old, new, flt, kind in MUTANTS:
        if old is None:
            if mid not in auto:
                continue
            n, raw, newline, kind = auto[mid]
            out.append(dict(id=mid, file=path, line=n + 1, old=raw, new=newline, filter=flt, kind=kind, whole_line=True))
        else:
            out.append(dict(id=mid, file=path, line=None, old=old, new=new, filter=flt, kind=kind, whole_line=False))
    return out


def key(m):
    return hashlib.sha256(json.dumps([m["id"], m["file"], m["old"], m["new"], m["filter"]]).encode()).hexdigest()[:16]


def recorded():
    res = {}
    if os.path.exists(RESULTS):
        for line in open(RESULTS):
            r = json.loads(line)
            res[r["key"]] = r
    return res


def restore_leftover():
    """A previous run killed mid-mutant leaves its backup: put the original back first."""
    if os.path.isdir(BACKUP):
        for name in os.listdir(BACKUP):
            meta = json.load(open(os.path.join(BACKUP, name)))
            with open(os.path.join(ROOT, meta["file"]), "w") as f:
                f.write(meta["text"])
            os.remove(os.path.join(BACKUP, name))
            print(f"restored {meta['file']} left mutated by an interrupted run")


def apply(m):
    path = os.path.join(ROOT, m["file"])
    text = open(path).read()
    if m["whole_line"]:
        lines = text.split("\n")
        if lines[m["line"] - 1] != m["old"]:
            raise RuntimeError(f"{m['id']}: line {m['line']} of {m['file']} changed")
        lines[m["line"] - 1] = m["new"]
        mutated = "\n".join(lines)
    else:
        if text.count(m["old"]) != 1:
            raise RuntimeError(f"{m['id']}: fragment found {text.count(m['old'])} times in {m['file']}")
        mutated = text.replace(m["old"], m["new"], 1)
    os.makedirs(BACKUP, exist_ok=True)
    with open(os.path.join(BACKUP, m["id"] + ".json"), "w") as f:
        json.dump({"file": m["file"], "text": text}, f)
    with open(path, "w") as f:
        f.write(mutated)
    return text


def restore(m, text):
    with open(os.path.join(ROOT, m["file"]), "w") as f:
        f.write(text)
    b = os.path.join(BACKUP, m["id"] + ".json")
    if os.path.exists(b):
        os.remove(b)


def run(cmd, timeout):
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return None, "timeout"


def test_one(m):
    text = apply(m)
    try:
        t0 = time.time()
        rc, out = run(["swift", "build", "--build-tests", "--scratch-path", SCRATCH], TIMEOUT)
        if rc != 0:
            return dict(status="invalid", detail="does not compile" if rc is not None else "build timeout", seconds=time.time() - t0)
        rc, out = run(["swift", "test", "--skip-build", "--scratch-path", SCRATCH, "--filter", m["filter"]], TIMEOUT)
        secs = time.time() - t0
        if rc is None:
            return dict(status="killed", detail="timeout", seconds=secs)
        if rc == 0:
            return dict(status="survived", detail="tests pass", seconds=secs)
        first = next((l for l in out.split("\n") if "error:" in l), out.strip().split("\n")[-1] if out.strip() else "")
        return dict(status="killed", detail=first.strip()[:300], seconds=secs)
    finally:
        restore(m, text)


def report(ms, res):
    rows, counts = [], {"killed": 0, "survived": 0, "invalid": 0, "pending": 0}
    for m in ms:
        r = res.get(key(m))
        st = r["status"] if r else "pending"
        counts[st] += 1
        rows.append((m, r, st))
    valid = counts["killed"] + counts["survived"]
    rate = 100.0 * counts["killed"] / valid if valid else 0
    L = ["# Mutation testing", "",
         "Made by `scripts/mutation-test.sh` (scripts/mutation-test.py): each mutant is one small change to one line",
         "of a fused kernel, a reference op or the TTT layer's pre/post stages (a flipped sign, a dropped term, an",
         "off-by-one bound, max ↔ min, a term or gradient scaled by 1e-3); its test filter runs the tests of that",
         "source (debug build in `.build-mut`). Killed = the tests fail or time out; invalid = does not compile.",
         "",
         f"**{counts['killed']} of {valid} valid mutants killed ({rate:.1f} %)**; {counts['survived']} survived, "
         f"{counts['invalid']} invalid, {counts['pending']} not run.", "",
         "| Mutant | Source line | Change | Filter | Result |", "|---|---|---|---|---|"]
    survivors = [(m, r) for m, r, st in rows if st == "survived"]
    for m, r, st in rows:
        where = f"{m['file']}" + (f":{m['line']}" if m["line"] else "")
        change = (m["kind"] + ": `" + m["old"].strip().replace("|", "\\|")[:90] + "` → `" + m["new"].strip().replace("|", "\\|")[:90] + "`")
        detail = st if not r else f"{st} ({r['seconds']:.0f} s)"
        L.append(f"| {m['id']} | {where} | {change} | `{m['filter'].replace('|', ' or ')}` | {detail} |")
    equivalent = [m for m, r in survivors if NOTES.get(m["id"], "").startswith("equivalent")]
    if valid:
        L[7] += (f" Without the {len(equivalent)} equivalent mutants (below): {counts['killed']} of {valid - len(equivalent)} "
                 f"({100.0 * counts['killed'] / max(1, valid - len(equivalent)):.1f} %).")
    L += ["", "## Survivors", ""]
    for m, r in survivors:
        L.append(f"- **{m['id']}** ({m['file']}" + (f":{m['line']}" if m["line"] else "") + f"): {NOTES.get(m['id'], 'not analysed')}")
    if not survivors:
        L.append("None.")
    noted = [(m, st) for m, r, st in rows if st != "survived" and m["id"] in NOTES]
    if noted:
        L += ["", "## Notes on killed mutants", ""]
        for m, st in noted:
            L.append(f"- **{m['id']}** ({st}): {NOTES[m['id']]}")
    L += ["", "Command: `scripts/mutation-test.sh` (then `scripts/mutation-test.sh --report`); results in "
          "`results/mutation/results.jsonl` (not committed). A mutant's result is reused while its id, text and "
          "filter are unchanged, so the report reflects the latest run of each."]
    return "\n".join(L) + "\n", counts, rate


def main(argv):
    restore_leftover()
    ms = resolve()
    if "--list" in argv:
        for m in ms:
            print(f"{m['id']:24} {m['file']}:{m['line'] or '-'}  {m['kind']}\n    - {m['old'].strip()}\n    + {m['new'].strip()}")
        print(f"{len(ms)} mutants")
        return 0
    only = argv[argv.index("--only") + 1:] if "--only" in argv else None
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)

    current = {}
    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    if "--report" not in argv:
        res = recorded()
        todo = [m for m in ms if (only and m["id"] in only) or (not only and key(m) not in res)]
        print(f"{len(todo)} mutants to run ({len(ms)} in all)")
        for i, m in enumerate(todo):
            print(f"[{i + 1}/{len(todo)}] {m['id']}: {m['kind']} in {m['file']}", flush=True)
            r = test_one(m)
            r.update(key=key(m), id=m["id"], when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            with open(RESULTS, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"    {r['status']} ({r['seconds']:.0f} s) {r['detail'][:160]}", flush=True)
    text, counts, rate = report(ms, recorded())
    with open(os.path.join(ROOT, "docs", "mutation.md"), "w") as f:
        f.write(text)
    print(f"killed {counts['killed']}, survived {counts['survived']}, invalid {counts['invalid']}, pending {counts['pending']}: {rate:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
