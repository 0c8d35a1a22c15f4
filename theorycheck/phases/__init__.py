"""The phases of one claim's run, in the order ``runner.run_claim`` calls them:
sweep (space-filling draws), search (hypothesis), regimes (coverage, targeted
draws), shrink (a minimal counterexample), breaks; then, from what they
found, mutants and resolution are aggregated into the claim's record."""
