"""Inference engines behind one interface (see ``base``); each optional engine lives behind its extra."""
