"""Developer tools around the product: the launcher (`make run`) and the editors' language report. Not imported by
the hub, the actions or the NLU components; a tool may import any of them."""
