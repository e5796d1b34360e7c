from llm_orchestrator.cli import main

main()
