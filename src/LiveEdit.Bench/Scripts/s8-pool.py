#!/usr/bin/env python3
"""Pools s8-pooled.sh outputs: Rel / T-Gen / M-Gen averaged over streams (equal cases), M-Loc weighted by each stream's
measured locality inputs, filter precision and recall averaged. usage: s8-pool.py SEEDS DIR... (SEEDS: comma list)"""
import json, os, sys
TARGETS = {'Rel': 95, 'TGen': 90, 'MGen': 88, 'TLoc': 100, 'MLoc': 96}
seeds = sys.argv[1].split(',')
for d in sys.argv[2:]:
    runs = []
    for s in seeds:
        f = os.path.join(d, f's{s}', 'editor-eval.json')
        if not os.path.exists(f):
            break
        runs.append(json.load(open(f))['metrics'][0])
    if len(runs) != len(seeds):
        print(d, 'incomplete'); continue
    pooled = {k: sum(r[k] for r in runs) / len(runs) for k in ['Rel', 'TGen', 'MGen', 'TLoc', 'FilterPrecision', 'RecallMGen']}
    measured = [r['Cases'] - r['MLocExcluded'] for r in runs]
    pooled['MLoc'] = sum(r['MLoc'] * m for r, m in zip(runs, measured)) / sum(measured)
    five = [pooled[k] for k in TARGETS]
    met = sum(pooled[k] >= t for k, t in TARGETS.items())
    print(f"{d}: " + ' / '.join(f'{x:.2f}' for x in five) + f"  met {met}  mean {sum(five)/5:.2f}  P {pooled['FilterPrecision']:.1f}"
          f"  R other {pooled['RecallMGen']:.1f}  M-Loc measured {sum(measured)}  per stream M-Gen "
          + ','.join(f"{r['MGen']:.1f}" for r in runs) + ' M-Loc ' + ','.join(f"{r['MLoc']:.1f}" for r in runs))
