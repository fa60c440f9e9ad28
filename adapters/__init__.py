"""The outside systems, each behind a small interface (a Protocol) with the built-in simulated
implementation beside it: `mail` (the mail transport), `bank` (the company's bank, which pays
service orders) and `processor` (the card processor, which issues and credits cards).

Services receive an adapter (or take the configured default); tests pass a fake. The simulated
bank and processor keep real balances in our own database, so the demo behaves like the real
thing: money moves once, and only what was there.
"""
