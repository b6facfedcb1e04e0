# Canonical mapping peer for jq (>= 1.6) and jaq (>= 2).
#   jq  -c -f benches/peers/map.jq < bench-data/products.ndjson
#   jaq -c -f benches/peers/map.jq < bench-data/products.ndjson
# (stdin, not a file argument: jaq 3.1 reads a file argument whole into memory)
#
# unit_price: half away from zero to 2 decimals on the decimal representation
# (tostring gives the shortest round-trip digits: 184.185 -> "184.185" -> 184.19).
# Whole results are emitted as integers (185), matching the other peers.

def round2:
  if type != "number" then error("price is not a number")
  elif . == floor then .
  else
    tostring as $s
    | ($s | index(".")) as $dot
    | if $dot == null or ($s | contains("e")) then
        # exponent notation (not produced by the generator): binary fallback
        (if . < 0 then -((-. * 100 + 0.5) | floor) else ((. * 100 + 0.5) | floor) end) / 100
      else
        $s[$dot + 1:] as $frac
        | if ($frac | length) <= 2 then .
          else
            ($s[0:1] == "-") as $neg
            | ((($s[(if $neg then 1 else 0 end):$dot] + $frac[0:2]) | tonumber)
               + (if $frac[2:3] >= "5" then 1 else 0 end)) as $scaled
            | (if $scaled % 100 == 0 then ($scaled / 100 | floor) else $scaled / 100 end)
            | if $neg then -. else . end
          end
      end
  end;

first(.custom_attributes[] | select(.attribute_code == "size") | .value) as $size
| first((.custom_attributes[] | select(.attribute_code == "color") | .value), null) as $color
| {
    item_no: (.sku + "-" + $size),
    description: (.name + " (" + ($size | ascii_upcase) + ")"),
    unit_price: (.price | round2),
    qty_on_hand: .extension_attributes.stock_item.qty,
    color: $color
  }
