"""A company's cap table as an Open Cap Table Format (OCF) package, exact and reproducible.

OCF counts shares; the ledger records ownership as exact fractions. The export therefore
issues **notional shares** by one documented rule, so that every OCF number is exact:

- The ledger's own share count starts with the founders holding 1 unit; a round issues each
  investor ``amount x units before / pre-money`` units (its ``amount / post-money`` of the
  company), new shares taken with ``stake.acquired`` dilute everyone, and sales move units
  between holders. This is the ``ownership`` view's fold (``CapTables``), read fact by fact.
- The export multiplies every unit count by the **least scale that makes every quantity in
  the company's history a whole number** (the founders' first issuance included). Whole
  shares keep every holder's fraction exactly: shares held / shares outstanding equals the
  ``ownership`` view's fraction at the same moment.
- Prices are exact too: ``cost_basis`` is the amount paid as recorded. A price per share is
  that amount over the shares issued for it, a quotient that may have no finite decimal form
  (100 for 3 shares); OCF's ``Numeric`` holds at most ten decimal places, so such a
  ``share_price`` is rounded half-to-even to ten places and the object's comments say so and
  give the exact fraction. It is the only number the export ever rounds.

What maps to what: the issuer is the company (its registered name and jurisdiction);
stakeholders are every holder that ever held shares (registered parties as institutions, and
``founders`` and ``undisclosed`` as the unnamed groups they are); stock classes are a common
class (founders' shares and new shares taken outside a round) and one class per round;
``round.closed`` and new-share ``stake.acquired`` facts become ``TX_STOCK_ISSUANCE``, sales
(``stake.acquired`` with a seller, ``stake.divested``) ``TX_STOCK_TRANSFER`` with the resulting
securities issued anew, and a round at a pre-money of 0, which wipes out existing holders,
``TX_STOCK_CANCELLATION``. The ledger has no fact by which a company buys its own shares back,
so no ``TX_STOCK_REPURCHASE`` is ever written. Prices the ledger does not record (the
founders', new shares taken without a price) are written ``0 XXX``, ISO 4217's "no currency".
"""

from __future__ import annotations

from ledger.ocf.errors import OcfError
from ledger.ocf.package import MANIFEST, Package, build, write

__all__ = ["MANIFEST", "OcfError", "Package", "build", "write"]
