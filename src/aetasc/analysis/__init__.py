"""Analysis: statistics, the verdict rules, the formatting they share, the claims, the Markdown
report, the summary and the plots; reads metrics files only."""
