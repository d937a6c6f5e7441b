# Convenience targets; ./dev is the entry point (it works without make).
.PHONY: demo test bench screenshots clean
demo:
	./dev demo
test:
	./dev test
bench:
	./dev countertop bench all
screenshots:
	./dev countertop screenshots --out docs/screenshots
clean:
	rm -rf .venv .pytest_cache build *.egg-info
