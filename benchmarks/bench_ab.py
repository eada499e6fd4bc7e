"""A/B of two source trees: `socap run` of the same studies from each tree in turn, fresh processes.

    python benchmarks/bench_ab.py TREE_A,TREE_B STUDY[,STUDY...] ROUNDS

Each round runs every study once from each tree, alternating, so that a change of the machine's
load slows both alike; wall time, peak RSS (os.wait4) and the stage times the CLI prints are
shown per run, then the best and median per tree and study. Used for "before/after" of a
refactoring (e.g. a git worktree of the old commit beside the new one); the studies come from
`socap simulate` (bench_scale.py --keep leaves its 10^6-respondent studies in its --work folder).
"""
import json, os, subprocess, sys, time, re
PY = sys.executable
trees = sys.argv[1].split(",")
studies = sys.argv[2].split(",")
rounds = int(sys.argv[3])
res = {}
for r in range(rounds):
    for study in studies:
        for tree in trees:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            p = subprocess.Popen([PY, "-m", "pipeline", "run", study], cwd=tree, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            out = p.stdout.read()
            stages = [float(m) for m in re.findall(r"\((\d+\.\d+) s\)$", out, flags=re.M)]
            res.setdefault((tree, study), []).append((wall, usage.ru_maxrss / 1024, load, stages, status))
            print(tree, os.path.basename(study), f"{wall:.2f} s {usage.ru_maxrss/1024:.0f} MB load {load:.1f} status {status} stages {stages}", flush=True)
print()
print("| tree | study | best wall s | median wall s | peak MB | loads |")
print("| --- | --- | ---: | ---: | ---: | --- |")
for (tree, study), v in res.items():
    w = sorted(x[0] for x in v)
    print(f"| {tree} | {os.path.basename(study)} | {w[0]:.2f} | {w[len(w)//2]:.2f} | {max(x[1] for x in v):.0f} | {', '.join(f'{x[2]:.1f}' for x in v)} |")
