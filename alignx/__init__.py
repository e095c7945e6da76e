"""AlignX domain code shared by two or more stages (taxonomy, directions, dumps, privacy,
embeddings, the LLM client) and the command line that wires the framework to the stages."""
