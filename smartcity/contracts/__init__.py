"""Record contracts: the single source of truth for the five streams (see ``records``)."""
