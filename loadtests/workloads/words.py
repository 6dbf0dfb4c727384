"""The fixed vocabulary of the synthetic prompts: common English words, lowercase, no
punctuation, so every word (with or without a leading space or a capital) is one or a few
tokens of any BPE vocabulary and the text reads like (meaningless) prose."""

from __future__ import annotations

_TEXT = """
the of and to in is that for it as was with be by on not this are or from at which but have an
they you were her she there had all been one their we can if will would more when who what
some about time people year way day man thing woman life child world school state family
student group country problem hand part place case week company system program question work
government number night point home water room mother area money story fact month lot right
study book eye job word business issue side kind head house service friend father power hour
game line end member law car city community name president team minute idea kid body
information back parent face others level office door health person art war history party
result change morning reason research girl guy moment air teacher force education foot boy age
policy process music market sense nation plan college interest death experience effect use
class control care field development role effort rate heart drug show leader light voice wife
police mind price report decision son view relationship town road arm difference value
building action model season society tax director position player record paper space ground
form event official matter center couple site project activity star table need court oil
situation cost industry figure street image phone data picture practice piece land product
doctor wall patient worker news test movie north love support technology step baby computer
type attention film tree source organization hair window evidence population truth writer
culture chance machine network memory cache request server engine token latency throughput
router queue prefix block batch answer prompt document summary context session user client
response stream signal metric budget schedule capacity resource pressure limit target measure
quickly slowly often never always usually really almost already still again together however
because although while before after during within without between across through under over
large small great little long short high low early late young old new good bad best better
important different public able free sure clear whole recent certain personal open red human
local social national political economic medical central common simple strong real hard
special available likely similar easy major general current final main natural physical
private single find make take come see know give think look want tell become leave feel bring
begin keep hold write stand hear let mean set meet run pay sit speak lie lead read grow lose
fall send build stay reach remain suggest raise pass sell require decide pull return explain
hope develop carry break receive agree hit produce eat cover catch draw choose cause listen
realize close fill enter share serve allow route balance compare collect store reuse load
"""

WORDS: tuple[str, ...] = tuple(_TEXT.split())
