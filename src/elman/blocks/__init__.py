"""Building blocks several model kinds share, above ``nn`` and below the kinds: the
recurrent encoder (classifiers, taggers, translators) and the conditional decoder
(translators, conditioned language models)."""
