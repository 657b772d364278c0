"""What a run shows people: the console summary, the HTML run report (from templates/), the charts, and the
energy report notebook's frames."""
