"""Planning: a world's data plan and the cost model that prices its runs."""
