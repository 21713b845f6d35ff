"""Trivium against the published eSTREAM test vectors (trivium-80.80.test-vectors, profile H3)."""

import pytest

from dynamarks.host.trivium import WARMUP, Trivium, initial_state, trivium_python

# (key, iv, [(byte offset, expected keystream hex), ...]) copied from the eSTREAM vector file.
VECTORS = [
    (  # Set 1, vector# 0
        "80000000000000000000", "00000000000000000000",
        [
            (0, "38EB86FF730D7A9CAF8DF13A4420540DBB7B651464C87501552041C249F29A64"
                "D2FBF515610921EBE06C8F92CECF7F8098FF20CCCC6A62B97BE8EF7454FC80F9"),
            (192, "EAF2625D411F61E41F6BAEEDDD5FE202600BD472F6C9CD1E9134A745D900EF6C"
                  "023E4486538F09930CFD37157C0EB57C3EF6C954C42E707D52B743AD83CFF297"),
            (256, "9A203CF7B2F3F09C43D188AA13A5A2021EE998C42F777E9B67C3FA221A0AA1B0"
                  "41AA9E86BC2F5C52AFF11F7D9EE480CB1187B20EB46D582743A52D7CD080A24A"),
            (448, "EBF14772061C210843C18CEA2D2A275AE02FCB18E5D7942455FF77524E8A4CA5"
                  "1E369A847D1AEEFB9002FCD02342983CEAFA9D487CC2032B10192CD416310FA4"),
        ],
    ),
    (  # Set 1, vector# 9
        "00400000000000000000", "00000000000000000000",
        [(0, "61208D286BC1DC431171EDA5CAF79D9560B18ACEF26484417B651A47A3F7A803"
             "53F79AF8656DA4301A5E5A02E04265B182C67F5891220349F8CD1CD06597B77E")],
    ),
    (  # Set 2, vector# 0
        "00000000000000000000", "00000000000000000000",
        [(0, "FBE0BF265859051B517A2E4E239FC97F563203161907CF2DE7A8790FA1B2E9CD"
             "F75292030268B7382B4C1A759AA2599A285549986E74805903801A4CB5A5D4F2")],
    ),
    (  # Set 3, vector# 0
        "00010203040506070809", "00000000000000000000", [(0, "D2A8740BBA6FD906")],
    ),
    (  # Set 6, vector# 0: non-zero key and IV, far into the stream
        "0053A6F94C9FF24598EB", "0D74DB42A91077DE45AC",
        [
            (0, "F4CD954A717F26A7D6930830C4E7CF0819F80E03F25F342C64ADC66ABA7F8A8E"
                "6EAA49F23632AE3CD41A7BD290A0132F81C6D4043B6E397D7388F3A03B5FE358"),
            (65472, "C04C24A6938C8AF8A491D5E481271E0E601338F01067A86A795CA493AA4FF265"
                    "619B8D448B706B7C88EE8395FC79E5B51AB40245BBF7773AE67DF86FCFB71F30"),
            (65536, "011A0D7EC32FA102C66C164CFCB189AED9F6982E8C7370A6A37414781192CEB1"
                    "55C534C1C8C9E53FDEADF2D3D0577DAD3A8EB2F6E5265F1E831C86844670BC69"),
            (131008, "48107374A9CE3AAF78221AE77789247CF6896A249ED75DCE0CF2D30EB9D889A0"
                     "C61C9F480E5C07381DED9FAB2AD54333E82C89BA92E6E47FD828F1A66A8656E0"),
        ],
    ),
]


@pytest.mark.parametrize("key,iv,chunks", VECTORS)
def test_estream_vectors(key: str, iv: str, chunks: list[tuple[int, str]]) -> None:
    t = Trivium(bytes.fromhex(key), bytes.fromhex(iv))
    for offset, expected in chunks:
        t.keystream(offset - t.position)
        assert t.keystream(len(expected) // 2).hex().upper() == expected


def test_c_core_matches_python_model() -> None:
    key, iv = bytes.fromhex("0053A6F94C9FF24598EB"), bytes.fromhex("0D74DB42A91077DE45AC")
    out_py, state_py = trivium_python(initial_state(key, iv), WARMUP, 48)
    t = Trivium(key, iv)
    assert t.keystream(48) == out_py
    assert t._state == state_py


def test_split_requests_equal_one_request() -> None:
    key, iv = bytes(range(10)), bytes(range(10, 20))
    whole = Trivium(key, iv).keystream(100_003)
    t = Trivium(key, iv)
    parts = b"".join(t.keystream(n) for n in (1, 0, 7, 65536, 34459))
    assert parts == whole
    assert t.position == len(whole)


def test_repr_hides_key() -> None:
    t = Trivium(b"\x11" * 10, b"\x22" * 10)
    assert "11" not in repr(t) and "position" in repr(t)


def test_bad_key_length() -> None:
    with pytest.raises(ValueError):
        Trivium(bytes(9), bytes(10))
