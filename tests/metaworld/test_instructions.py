from weightsearch.metaworld.instructions import PAD, TEXT_LENGTH, instructions, tokenize, vocabulary, words
from weightsearch.metaworld.suite import MT10, all_task_names


def test_train_and_held_out_instructions_are_disjoint_for_every_task():
    for task in all_task_names():
        train, held_out = set(instructions(task, "train")), set(instructions(task, "held_out"))
        assert len(train) >= 4 and len(held_out) >= 2
        assert not train & held_out


def test_mt10_tasks_have_several_paraphrases_that_name_different_goals():
    for task in MT10:
        assert len(set(instructions(task, "train"))) >= 10
    assert instructions("reach-v3", "train")[0] != instructions("push-v3", "train")[0]


def test_tokenize_pads_and_knows_every_word_of_every_instruction():
    texts = list(instructions("drawer-open-v3", "held_out"))
    tokens = tokenize(texts)
    assert tokens.shape == (len(texts), TEXT_LENGTH)
    for text, row in zip(texts, tokens):
        assert (row != PAD).sum() == len(words(text))
        assert (row[row != PAD] > 2).all()  # no <unk>: the vocabulary covers every instruction
    assert len(vocabulary()) > 50
