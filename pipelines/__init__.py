"""The library behind `hcp`: config, the DuckDB warehouse lock, verify, and one package per path (`sync`, `leads`, `report`, `cli`). No module here but `cli/` prints or parses flags."""
