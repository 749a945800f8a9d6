# %% [markdown]
# # The sample ledger from Python
#
# Open a ledger, load the sample story (appending it again changes nothing: every fact has a
# key), and ask the questions the command line answers. Cells are marked `# %%`, so VS Code,
# PyCharm or Jupytext open this file as a notebook; `python examples/notebook.py` runs it whole.
# The store is `DEALLEDGER_URL`, else `dealledger.db` in the working directory.

# %%
from pathlib import Path

import ledger
from ledger.errors import LedgerError
from ledger.rendering import table_text

HERE = Path(__file__).parent if "__file__" in globals() else Path("examples")
book = ledger.open()
result = book.append(HERE / "story.jsonl")
print(f"{len(result.added)} facts added, {result.unchanged} already there")

# %% [markdown]
# Who owned Moonshot AI on 1 March 2024, and after its August 2024 round? Fractions are exact
# (`8/25` is 32%); `table_text` shows one to six places, as the command line's tables do.

# %%
for as_of in ("2024-03-01", "2024-12-31"):
    owners = book.view("ownership", company="moonshot-ai", as_of=as_of)
    print(as_of, ", ".join(f"{row['holder']} {table_text(row['fraction'])} (exactly {row['fraction']})" for row in owners))

# %% [markdown]
# The league of investors in Chinese AI start-ups, in US dollars, as a DataFrame (needs
# `pip install 'dealledger[notebook]'`); money stays `Decimal` in `object` columns.

# %%
league = book.view("league", sector="china-ai", currency="USD")
try:
    frame = league.to_pandas()
    print(frame[["investor", "deals", "total", "currency"]].head(3).to_string(index=False))
except LedgerError as error:  # pandas is not installed
    print(error)
    print(league[0])

# %% [markdown]
# Every answer can be asked as the ledger knew it at a moment: `known_at` takes a datetime, a
# date (the end of that day, UTC) or ISO text, such as a recorded time from the story.

# %%
story = book.story(as_of="2023-12-31")
print(f"{len(story)} facts in force on 2023-12-31; the first recorded at {story[0]['recorded']}")
before = book.view("ownership", company="moonshot-ai", as_of="2024-12-31", known_at="2000-01-01")
print("known at the end of 2000-01-01, before anything was recorded:", [(row["holder"], str(row["fraction"])) for row in before])

# %%
book.close()
