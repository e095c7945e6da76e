"""AlignX domain code shared by two or more stages (taxonomy, directions, the DEMO trait
selection, dumps, privacy, embeddings, the LLM client). It imports the framework
(``pipeline/``) and nothing above it: no stage, no annotator backend, no command line."""
