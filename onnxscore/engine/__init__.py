"""The engine under rank, evaluate and search: candidates -> tasks -> an executor -> the store -> rows.

candidates.py  what to score (files, space members) and their cache keys
settings.py    RankSettings (what workers get), Task (one candidate's missing work), store keys
worker.py      run_task: build, measure, budget-check and score one candidate (never raises)
executors.py   in-process, supervised process pool, Ray: context managers a whole search can hold
progress.py    the progress line
results.py     ranked rows and their CSV / JSON / table / Pareto renderings
job.py         rank(): plan what the store lacks, run it, collect the rows
"""
