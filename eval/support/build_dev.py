"""Writes dev.jsonl: the labelled (sentence, quote, supported) pairs the support threshold is fitted on.

Kept as code so the set is reviewable in one place; run `python eval/support/build_dev.py` after editing.
Quotes come from made-up passages and from passages of the paper; no sentence is a gold test question.
Unsupported means the sentence claims something the quote does not say (another action, subject or
topic), not a wrong number: numbers, dates and names are checked separately and exactly.
"""
from __future__ import annotations

import json
from pathlib import Path

# (source, quote, [(lang, sentence, supported, kind), ...])
GROUPS = [
    ("made-up", "Im Jahr 2016 wurden im Landkreis 14 neue Radwege mit einer Gesamtlänge von 38,5 Kilometern gebaut.", [
        ("de", "Im Landkreis entstanden 2016 vierzehn neue Radwege.", True, "paraphrase"),
        ("en", "In 2016, 14 new cycle paths with a total length of 38.5 kilometres were built in the district.", True, "translation"),
        ("de", "Der Landkreis hat 2016 mehrere Radwege stillgelegt.", False, "contradiction"),
        ("en", "The district opened a new hospital in 2016.", False, "other topic"),
    ]),
    ("made-up", "Die Stadtwerke Greifswald erneuerten im Jahr 2019 insgesamt 12,4 Kilometer Fernwärmeleitungen.", [
        ("en", "The Greifswald utility renewed 12.4 km of district heating pipes in 2019.", True, "translation"),
        ("de", "2019 wurden in Greifswald 12,4 Kilometer Fernwärmeleitungen erneuert.", True, "paraphrase"),
        ("en", "Greifswald sold its municipal utility in 2019.", False, "other claim"),
        ("de", "Die Stadtwerke Greifswald bauten 2019 einen Windpark.", False, "other claim"),
    ]),
    ("made-up", "Am 3. Juni 2018 unterzeichneten die Fachhochschule Neubrandenburg und die Universität Turku eine Vereinbarung über den Austausch von Lehrkräften.", [
        ("en", "On 3 June 2018, Neubrandenburg and the University of Turku signed an agreement to exchange teaching staff.", True, "translation"),
        ("de", "Neubrandenburg und Turku vereinbarten 2018 einen Austausch von Lehrkräften.", True, "paraphrase"),
        ("en", "The University of Turku closed its campus in June 2018.", False, "other claim"),
        ("de", "Die Fachhochschule Neubrandenburg stellte 2018 zehn neue Professoren ein.", False, "other claim"),
    ]),
    ("made-up", "Die Zahl der Übernachtungen in Warnemünde stieg von 310.000 auf 345.000.", [
        ("en", "Overnight stays in Warnemünde rose from 310,000 to 345,000.", True, "translation"),
        ("de", "In Warnemünde gab es mehr Übernachtungen als zuvor, nämlich 345.000.", True, "paraphrase"),
        ("en", "Warnemünde built a new cruise terminal.", False, "other topic"),
        ("de", "Die Einwohnerzahl von Warnemünde sank deutlich.", False, "other claim"),
    ]),
    ("made-up", "Der Hafen Wismar schlug im Jahr 2018 rund 4.200 Tonnen Getreide für den Export nach Schweden um.", [
        ("en", "In 2018 the port of Wismar handled about 4,200 tonnes of grain for export to Sweden.", True, "translation"),
        ("de", "Über Wismar wurden 2018 rund 4.200 Tonnen Getreide nach Schweden exportiert.", True, "paraphrase"),
        ("en", "The port of Wismar imported cars from Sweden in 2018.", False, "other claim"),
        ("de", "Wismar schloss 2018 seinen Hafen für Getreide.", False, "contradiction"),
    ]),
    ("made-up", "Das Ministerium förderte das Projekt zur Digitalisierung der Schulen mit 2,1 Mio. Euro.", [
        ("en", "The ministry funded the school digitisation project with EUR 2.1 million.", True, "translation"),
        ("de", "Für die Digitalisierung der Schulen gab das Ministerium 2,1 Mio. Euro.", True, "paraphrase"),
        ("en", "The ministry cut funding for school buses.", False, "other claim"),
        ("de", "Das Ministerium plant den Bau einer neuen Autobahn.", False, "other topic"),
    ]),
    ("made-up", "Die Delegation aus Litauen wurde vom Minister für Wirtschaft im Schloss Schwerin empfangen.", [
        ("en", "The Lithuanian delegation was received by the economy minister at Schwerin Castle.", True, "translation"),
        ("de", "Der Wirtschaftsminister empfing die litauische Delegation in Schwerin.", True, "paraphrase"),
        ("en", "The economy minister travelled to Lithuania.", False, "other claim"),
        ("de", "Die litauische Delegation besichtigte eine Werft in Rostock.", False, "other claim"),
    ]),
    ("made-up", "Im Rahmen des Programms wurden 120 Lehrkräfte für den Unterricht in Informatik weitergebildet.", [
        ("en", "Under the programme, 120 teachers were trained to teach computer science.", True, "translation"),
        ("de", "Das Programm bildete 120 Lehrkräfte in Informatik weiter.", True, "paraphrase"),
        ("en", "The programme hired 120 new computer scientists for the ministry.", False, "other claim"),
        ("de", "Der Informatikunterricht wurde im Rahmen des Programms abgeschafft.", False, "contradiction"),
    ]),
    ("paper", "Am 26. August 2016 besuchte der Botschafter der Republik Kasachstan das Historisch-Technische Museum Peenemünde, um sich über das Museum, seine Ausstellungen und Planungen sowie über die Entwicklungspläne der Gemeinde Peenemünde zu informieren.", [
        ("en", "On 26 August 2016, the ambassador of Kazakhstan visited the Historical Technical Museum Peenemünde.", True, "translation"),
        ("de", "Der kasachische Botschafter informierte sich 2016 im Museum Peenemünde über dessen Ausstellungen.", True, "paraphrase"),
        ("en", "The ambassador opened a Kazakh consulate in Peenemünde.", False, "other claim"),
        ("de", "Der Botschafter unterzeichnete in Peenemünde einen Handelsvertrag.", False, "other claim"),
    ]),
    ("paper", "Am 9. Januar 2017 nahm der Botschafter der Republik Kasachstan am Neujahrsempfang des Ministerpräsidenten teil und führte dort unter anderem ein Gespräch mit dem Minister für Energie, Infrastruktur und Digitalisierung.", [
        ("en", "On 9 January 2017 the Kazakh ambassador attended the Minister-President's New Year reception.", True, "translation"),
        ("de", "Beim Neujahrsempfang sprach der Botschafter mit dem Minister für Energie, Infrastruktur und Digitalisierung.", True, "paraphrase"),
        ("en", "The Minister-President travelled to Kazakhstan in January 2017.", False, "other claim"),
        ("de", "Der Botschafter sagte seine Teilnahme am Neujahrsempfang ab.", False, "contradiction"),
    ]),
    ("paper", "Jahr 2016: 5,458 Mio. Euro (Platz 98),", [
        ("en", "In 2016 the trade volume was EUR 5.458 million, rank 98.", True, "translation"),
        ("de", "Im Jahr 2016 lag das Volumen bei 5,458 Mio. Euro.", True, "paraphrase"),
        ("en", "In 2016 the state founded a trade office in Almaty.", False, "other claim"),
        ("de", "Im Jahr 2016 besuchte eine Schülergruppe das Land.", False, "other topic"),
    ]),
    ("paper", "Dessen ungeachtet bewegt sich der Außenhandel des Landes Mecklenburg-Vorpommern mit der Republik Kasachstan auf einem sehr geringen Niveau und ist in den vergangenen zwei Jahren rückläufig:", [
        ("en", "Trade between Mecklenburg-Vorpommern and Kazakhstan is at a very low level and has declined over the last two years.", True, "translation"),
        ("de", "Der Außenhandel mit Kasachstan ist gering und ging zuletzt zurück.", True, "paraphrase"),
        ("en", "Kazakhstan is one of the state's most important trading partners.", False, "contradiction"),
        ("de", "Die Universitäten des Landes arbeiten eng mit Kasachstan zusammen.", False, "other topic"),
    ]),
    ("paper", "Im Jahr 2015 hat der Staatssekretär im Ministerium für Wirtschaft, Arbeit und Gesundheit eine Reise mit einer Unternehmerdelegation in die Republik Kasachstan unternommen.", [
        ("en", "In 2015 the state secretary of the economy ministry travelled to Kazakhstan with a business delegation.", True, "translation"),
        ("de", "2015 reiste ein Staatssekretär mit Unternehmern nach Kasachstan.", True, "paraphrase"),
        ("en", "In 2015 a Kazakh business delegation visited Schwerin.", False, "other claim"),
        ("de", "Der Staatssekretär eröffnete 2015 eine Fabrik in Rostock.", False, "other claim"),
    ]),
    ("paper", "Im Rahmen der Wirtschaftsdelegationsreisen unter Leitung des Ministers für Energie, Infrastruktur und Digitalisierung anlässlich der Transport- und Logistikmesse „TransRussia“ in Moskau, wurden im April 2015 und im April 2016 jeweils ein „Memorandum of Understanding“ zwischen der Rostock Port GmbH und ausländischen Partnern gezeichnet, darunter die Logistiktochter der kasachischen Staatsbahn.", [
        ("en", "Rostock Port GmbH signed memoranda of understanding with foreign partners at the TransRussia fair in Moscow in 2015 and 2016.", True, "translation"),
        ("de", "Auf der Messe „TransRussia“ wurden 2015 und 2016 Absichtserklärungen der Rostock Port GmbH unterzeichnet.", True, "paraphrase"),
        ("en", "The Kazakh state railway bought a share of Rostock Port GmbH.", False, "other claim"),
        ("de", "Die Messe „TransRussia“ fand 2016 in Rostock statt.", False, "other claim"),
    ]),
    ("paper", "Dieser Erklärung haben sich inzwischen insgesamt 26 Institutionen und Unternehmen aus elf Ländern angeschlossen.", [
        ("en", "A total of 26 institutions and companies from eleven countries have since joined the declaration.", True, "translation"),
        ("de", "Inzwischen sind 26 Institutionen und Unternehmen aus elf Ländern beigetreten.", True, "paraphrase"),
        ("en", "Eleven companies withdrew from the declaration.", False, "contradiction"),
        ("de", "Die Erklärung wurde von allen Ländern der Welt abgelehnt.", False, "contradiction"),
    ]),
    ("paper", "Partnerschaft mit der „Innovativen Eurasischen Universität“ in Pavlodar im Bereich Agrarwirtschaft", [
        ("en", "There is a partnership with the Innovative Eurasian University in Pavlodar in agriculture.", True, "translation"),
        ("de", "Mit der Innovativen Eurasischen Universität in Pavlodar besteht eine Partnerschaft in der Agrarwirtschaft.", True, "paraphrase"),
        ("en", "The university in Pavlodar trains ship engineers for the Baltic ports.", False, "other claim"),
        ("de", "Die Partnerschaft mit Pavlodar betrifft die Medizin.", False, "other claim"),
    ]),
    ("paper", "Sämtliche Partnerschaften beziehen sich auf die Anerkennung von Studien- und Prüfungsleistungen sowie auf den Austausch von Lehrenden und Studierenden.", [
        ("en", "All partnerships cover the recognition of study and examination credits and the exchange of teachers and students.", True, "translation"),
        ("de", "Die Partnerschaften dienen der Anerkennung von Prüfungsleistungen und dem Austausch von Studierenden.", True, "paraphrase"),
        ("en", "The partnerships pay for new laboratory buildings.", False, "other claim"),
        ("de", "Die Partnerschaften betreffen den Export von Getreide.", False, "other topic"),
    ]),
    ("paper", "Die bestehenden wirtschaftlichen Kontakte werden wie bisher weiter gepflegt.", [
        ("en", "The existing economic contacts will continue to be maintained as before.", True, "translation"),
        ("de", "Die wirtschaftlichen Kontakte sollen wie bisher fortgeführt werden.", True, "paraphrase"),
        ("en", "All economic contacts are to be ended.", False, "contradiction"),
        ("de", "Das Land plant eine große Kulturausstellung.", False, "other topic"),
    ]),
    ("paper", "Dabei ist neben der Nutzung der guten Windenergiepotenziale in Kasachstan auch die Notwendigkeit der Speicherung und Netzstabilisierung als potenzielles Aktionsfeld für die Unternehmen von Interesse.", [
        ("en", "Companies are interested in Kazakhstan's good wind energy potential and in energy storage and grid stabilisation.", True, "translation"),
        ("de", "Für die Unternehmen sind die Windenergie in Kasachstan sowie Speicherung und Netzstabilisierung interessant.", True, "paraphrase"),
        ("en", "Kazakhstan has no potential for wind energy.", False, "contradiction"),
        ("de", "Die Unternehmen wollen in Kasachstan Autos verkaufen.", False, "other claim"),
    ]),
    ("paper", "Aus hiesiger Sicht werden keine negativen Einflüsse auf das deutsch-russische Verhältnis durch die Pflege der Beziehungen zwischen Kasachstan und Mecklenburg-Vorpommern erwartet.", [
        ("en", "No negative effects on German-Russian relations are expected from the relations with Kazakhstan.", True, "translation"),
        ("de", "Die Landesregierung erwartet keine negativen Folgen für das deutsch-russische Verhältnis.", True, "paraphrase"),
        ("en", "The state government fears serious damage to relations with Russia.", False, "contradiction"),
        ("de", "Russland hat die Beziehungen zu Kasachstan abgebrochen.", False, "other claim"),
    ]),
]


def main() -> None:
    out = Path(__file__).with_name("dev.jsonl")
    rows = []
    for g, (source, quote, items) in enumerate(GROUPS):
        for k, (lang, sentence, supported, kind) in enumerate(items):
            rows.append({"id": f"{source}-{g:02d}-{k}", "source": source, "language": lang, "kind": kind,
                         "sentence": sentence, "quote": quote, "supported": supported})
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} pairs -> {out}")


if __name__ == "__main__":
    main()
