"""The metrics layer: KPI definitions -> SQL -> results. Never imports Dash."""
