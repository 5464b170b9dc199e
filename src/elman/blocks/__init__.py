"""Building blocks several model kinds share, above ``nn`` and below the kinds.

encoder.py  EncoderConfig, Encoder: the recurrent encoder of classifiers, taggers
            and translators (stacked, bidirectional, over padded sequences)
decoder.py  DecoderConfig, Decoder: the conditional decoder of translators and
            conditioned language models (bridge, peeky, attention over a memory)
"""
