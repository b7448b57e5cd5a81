"""trialmatch matchers: eligibility parsing, patient normalization, evaluation, ranking."""
