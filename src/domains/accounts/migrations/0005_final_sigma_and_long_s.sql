-- Emails are stored folded (email.ts): lower case was not enough for some letters that Unicode case
-- folding makes one. Final sigma ς is how σ is written at a word's end, so ΑΛΕΞΙΣ@… lowered to
-- αλεξις@… while αλεξισ@… stayed apart (two accounts for one address, and the owner who typed it in
-- capitals was refused); long s ſ (and ẛ, a long s with a dot) is an s; the micro sign µ is μ; ϐ ϑ ϕ
-- ϖ ϰ ϱ ϵ are β θ φ π κ ρ ε; ypogegrammeni and prosgegrammeni (U+0345, U+1FBE) are ι; the old
-- Cyrillic letter forms U+1C80 to U+1C88 are в д о с т т ъ ѣ ꙋ. Stored addresses are folded the same way now. One whose
-- folded form is already another account's keeps its email and is named in a notice: the two stay
-- apart, and a login typed exactly as it is stored finds it (login.ts). On a server whose encoding
-- is not UTF-8 (where such addresses cannot be stored) there is nothing to fold.
DO $$
DECLARE
  r record;
  folded text;
BEGIN
  IF current_setting('server_encoding') <> 'UTF8' THEN
    RETURN;
  END IF;
  FOR r IN SELECT id, email::text AS email FROM users WHERE normalize(email::text, NFD) ~ ('[' || 'ςſµϐϑϕϖϰϱϵ' || chr(837) || chr(8126) || chr(7296) || chr(7297) || chr(7298) || chr(7299) || chr(7300) || chr(7301) || chr(7302) || chr(7303) || chr(7304) || ']') ORDER BY created_at, id LOOP
    folded := normalize(translate(normalize(r.email, NFD), 'ςſµϐϑϕϖϰϱϵ' || chr(837) || chr(8126) || chr(7296) || chr(7297) || chr(7298) || chr(7299) || chr(7300) || chr(7301) || chr(7302) || chr(7303) || chr(7304), 'σsμβθφπκρειιвдосттъѣꙋ'), NFC);
    BEGIN
      UPDATE users SET email = folded WHERE id = r.id;
    EXCEPTION WHEN unique_violation THEN
      RAISE NOTICE 'account % keeps its email: folded, it is another account''s', r.id;
    END;
  END LOOP;
END $$;
