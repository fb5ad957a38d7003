from industry_expert.cli import main

main()
