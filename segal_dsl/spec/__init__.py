"""The domain facts, each in one place: sample modes, budget units and arithmetic, heuristics and their
parameters, schedule and round semantics, the compiled-config contract and the plan. Imports neither
torch nor lark: the front end, the importer and the runtime all read these definitions."""
